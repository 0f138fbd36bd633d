"""Chaos workload of the file store: small uploads through the VIP, each checked afterwards.

Every upload the NBI acknowledged (201) must read back through the VIP with the SHA-256 the
client computed, once the faults are over; the files are deleted after the check. One that does
not read back at the default level is asked for at ALL: found there, it was acknowledged at ONE
and sat on one replica only (under-replicated, said on the timeline); not found, it is lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import time

import httpx

from labkit.chaos.workload import Served, Workload
from labkit.cluster import Cluster


class FileUploads(Workload):
    name = "file-uploads"

    def __init__(self, lab: Cluster) -> None:
        super().__init__(lab)
        self.http = httpx.Client(base_url=f"{lab.vip_url}/api/files", timeout=5,
                                 auth=lab.auth())
        self.prefix = f"chaos-{int(time.time())}-{os.getpid()}"
        self.rng = random.Random(self.prefix)
        self.seq = 0
        self.acked: dict[str, str] = {}

    def tick(self) -> None:
        """One upload, recorded in the run's history under its name with the app server and
        consistency level that acknowledged it: a lost one can be traced to the faults of its
        moment (`labkit chaos` writes the history and the timeline)."""
        name = self._next_name()
        self.record("upload", name, None, lambda: self.upload(name))

    def step(self) -> None:
        self.upload(self._next_name())

    def _next_name(self) -> str:
        """The next upload's name: this run's prefix and a sequence number, never reused."""
        self.seq += 1
        return f"{self.prefix}-{self.seq}.bin"

    def upload(self, name: str) -> Served:
        data = self.rng.randbytes(self.rng.randint(1, 96 * 1024))
        r = self.http.put(f"/{name}", content=data)
        r.raise_for_status()
        sha = hashlib.sha256(data).hexdigest()
        self.acked[name] = sha
        return [str(r.json().get("consistency")), sha[:12]], r.headers.get("X-Labkit-Node")

    def read_at_all(self, missing: dict[str, str], last: dict[str, str],
                    timeout: float = 30) -> list[str]:
        """The uploads that do not read back at the default level but do at ALL: an upload the
        store acknowledged at ONE (its fallback while a replica is down) may sit on that one
        replica only, if the coordinator's hints for the others died with it. A read at ALL
        asks every replica and repairs the others: under-replicated, not lost."""
        found = []
        deadline = time.monotonic() + timeout  # a ring that does not answer: 5 s a file
        for name, sha in missing.items():
            if time.monotonic() >= deadline:
                break
            with contextlib.suppress(httpx.HTTPError):
                r = self.http.get(f"/{name}", params={"consistency": "ALL"})
                if r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == sha:
                    found.append(name)
                else:
                    last[name] = f"{last.get(name, '?')}, at ALL HTTP {r.status_code}"
        return found

    def verify(self, timeout: float = 90) -> list[str]:
        deadline = time.monotonic() + timeout  # the ring may still be delivering hints
        missing = dict(self.acked)
        last: dict[str, str] = {}
        while missing and time.monotonic() < deadline:
            for name, sha in list(missing.items()):
                if time.monotonic() >= deadline:  # each read may wait 5 s: not one per file
                    break
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
        repaired = self.read_at_all(missing, last, timeout=min(30.0, timeout))
        for name in self.acked:
            if name not in missing or name in repaired:
                with contextlib.suppress(httpx.HTTPError):  # a leftover file is harmless
                    self.http.delete(f"/{name}", auth=self.lab.auth("admin"))
        self.http.close()
        for name in repaired:
            del missing[name]
        if repaired:  # not lost, but not where a QUORUM read looks either: say so on the timeline
            self.errors.append((time.time(), f"{self.name}: {len(repaired)} acknowledged uploads "
                                f"read back only at ALL (e.g. {repaired[0]}): acknowledged at "
                                "ONE, one replica held them until the read at ALL repaired "
                                "the others"))
        if not missing:
            return []
        some = ", ".join(f"{n} ({last.get(n, '?')})" for n in sorted(missing)[:5])
        return [f"{self.name}: {len(missing)} of {len(self.acked)} acknowledged uploads do not "
                f"read back: {some}"]


def workloads(lab: Cluster) -> list[Workload]:
    return [FileUploads(lab)] if lab.layout.topology.with_role("cassandra") else []
