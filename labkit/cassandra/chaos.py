"""Chaos workload of the file store: small uploads through the VIP, each checked afterwards.

Every upload the NBI acknowledged (201) must read back through the VIP with the SHA-256 the
client computed, once the faults are over; the files are deleted after the check.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time

import httpx

from labkit.chaos.workload import Workload
from labkit.cluster import Cluster


class FileUploads(Workload):
    name = "file-uploads"

    def __init__(self, lab: Cluster) -> None:
        super().__init__(lab)
        self.http = httpx.Client(base_url=f"{lab.vip_url}/api/files", timeout=5)
        self.prefix = f"chaos-{int(time.time())}-{os.getpid()}"
        self.rng = random.Random(self.prefix)
        self.seq = 0
        self.acked: dict[str, str] = {}

    def step(self) -> None:
        self.seq += 1
        name = f"{self.prefix}-{self.seq}.bin"
        data = self.rng.randbytes(self.rng.randint(1, 96 * 1024))
        self.http.put(f"/{name}", content=data).raise_for_status()
        self.acked[name] = hashlib.sha256(data).hexdigest()

    def verify(self, timeout: float = 90) -> list[str]:
        deadline = time.monotonic() + timeout  # the ring may still be delivering hints
        missing = dict(self.acked)
        last: dict[str, str] = {}
        while missing and time.monotonic() < deadline:
            for name, sha in list(missing.items()):
                try:
                    r = self.http.get(f"/{name}")
                    got = hashlib.sha256(r.content).hexdigest() if r.status_code == 200 else ""
                    if got == sha:
                        del missing[name]
                    else:
                        last[name] = f"HTTP {r.status_code}" if not got else "wrong bytes"
                except httpx.HTTPError as exc:
                    last[name] = type(exc).__name__
            if missing:
                time.sleep(1)
        for name in self.acked:
            if name not in missing:
                with contextlib.suppress(httpx.HTTPError):  # a leftover file is harmless
                    self.http.delete(f"/{name}")
        self.http.close()
        if not missing:
            return []
        some = ", ".join(f"{n} ({last.get(n, '?')})" for n in sorted(missing)[:5])
        return [f"{self.name}: {len(missing)} of {len(self.acked)} acknowledged uploads do not "
                f"read back: {some}"]


def workloads(lab: Cluster) -> list[Workload]:
    return [FileUploads(lab)] if lab.layout.topology.with_role("cassandra") else []
