"""The file store as a client sees it: the NBI through the VIP (`lab.files`, `labkit files`).

    lab.files.put("junos-21.4.img")           # streams the file up; a bar for big files
    lab.files.get("junos-21.4.img", "copy.img")  # streams it down, checks its SHA-256
    lab.files.ls()

`read_on(name, node)` skips the NBI and reads one Cassandra node's own copy (lessons compare
replicas with it).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tqdm.auto import tqdm

from labkit import answers
from labkit.errors import LabError
from labkit.layout import Layout

PIECE = 256 * 1024
BAR_FROM = 8 << 20  # files this big get a progress bar
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class FilesClient:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.base = f"{layout.vip_url}/api/files"

    @classmethod
    def of(cls, lab: Any) -> FilesClient:
        """The handle of `lab` (a `Cluster`): what `lab.files` gives."""
        return cls(lab.layout)

    # -- NBI ------------------------------------------------------------------------------
    def put(self, source: str | os.PathLike | bytes, name: str | None = None,
            consistency: str | None = None, progress: bool | None = None) -> dict[str, Any]:
        """Upload a file (a path, or bytes with `name`); returns what the store recorded."""
        if isinstance(source, bytes):
            if not name:
                raise LabError("give a name for bytes to upload", "files.put(data, name='x.img')")
            size, opener = len(source), None
        else:
            path = Path(source)
            if not path.is_file():
                raise LabError(f"{path} is not a file", "give the path of a device image")
            size, name = path.stat().st_size, name or path.name
            opener = path
        bar = _bar(f"upload {name}", size, progress)

        def body() -> Iterator[bytes]:
            with open(opener, "rb") if opener else io.BytesIO(source) as fh:
                while piece := fh.read(PIECE):
                    bar.update(len(piece))
                    yield piece
        try:
            r = httpx.put(f"{self.base}/{name}", content=body(), params=_level(consistency),
                          auth=self.layout.nbi_auth(),
                          headers={"Content-Length": str(size),
                                   "Content-Type": "application/octet-stream"},
                          timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise LabError(f"upload of {name} failed: {type(exc).__name__}: {exc}",
                           "check `labkit status`; the VIP or the app server may be down") from None
        finally:
            bar.close()
        return answers.json_or_error(r)

    def get(self, name: str, out: str | os.PathLike | None = None,
            consistency: str | None = None, progress: bool | None = None) -> dict[str, Any]:
        """Download to `out` (default: ./NAME), checking the SHA-256 the store recorded."""
        target = Path(out) if out else Path(name)
        if target.is_dir():
            target = target / name
        tmp = target.with_name(f".{target.name}.part")
        digest, got = hashlib.sha256(), 0
        try:
            with httpx.stream("GET", f"{self.base}/{name}", params=_level(consistency),
                              auth=self.layout.nbi_auth(), timeout=TIMEOUT) as r:
                if r.status_code != 200:
                    r.read()
                    answers.json_or_error(r)
                size, sha = int(r.headers["Content-Length"]), r.headers["X-File-SHA256"]
                bar = _bar(f"download {name}", size, progress)
                with open(tmp, "wb") as fh:
                    for piece in r.iter_bytes(PIECE):
                        digest.update(piece)
                        fh.write(piece)
                        got += len(piece)
                        bar.update(len(piece))
                bar.close()
                node = r.headers.get("X-Labkit-Node")
        except httpx.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            raise LabError(f"download of {name} broke off after {got} bytes: "
                           f"{type(exc).__name__}", "retry; see `labkit status`") from None
        if digest.hexdigest() != sha or got != size:
            tmp.unlink(missing_ok=True)
            raise LabError(f"{name}: got {got} bytes with SHA-256 {digest.hexdigest()}, "
                           f"the store recorded {size} bytes with {sha}", "download it again")
        tmp.replace(target)
        return {"name": name, "path": str(target), "size": size, "sha256": sha,
                "verified": True, "served_by": node}

    def ls(self, consistency: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", self.base, consistency)["files"]

    def info(self, name: str, consistency: str | None = None) -> dict[str, Any]:
        return self._call("GET", f"{self.base}/{name}/info", consistency)

    def delete(self, name: str, consistency: str | None = None) -> dict[str, Any]:
        """Deleting is the admin's: this call sends the lab's admin credentials."""
        return self._call("DELETE", f"{self.base}/{name}", consistency, user="admin")

    def _call(self, method: str, url: str, consistency: str | None,
              user: str = "learner") -> Any:
        r = httpx.request(method, url, params=_level(consistency), timeout=TIMEOUT,
                          auth=self.layout.nbi_auth(user))
        return answers.json_or_error(r)

    # -- the ring and its replicas --------------------------------------------------------
    def ring(self) -> dict[str, Any]:
        """Each Cassandra node's state, load and the hints it holds for others."""
        from labkit.cassandra import config, ring

        return ring.status(self.layout, config.ring_nodes(self.layout))

    def wait_in_sync(self, timeout: float = 120) -> dict[str, Any]:
        """Wait until every node is up and no node still holds hints for another."""
        from labkit.cassandra import ring

        return ring.wait_converged(self.layout, timeout)

    # -- straight to one Cassandra node ---------------------------------------------------
    def read_on(self, name: str, node: str, consistency: str = "ONE") -> dict[str, Any]:
        """Read a file through one Cassandra node only (at ONE: that node's own copy)."""
        from labkit.cassandra.store import FileStore, FileStoreError

        self.layout.topology.node(node)
        try:
            info, chunks = FileStore(self.layout, node=node).read(name, consistency)
            digest = hashlib.sha256()
            size = 0
            for piece in chunks:
                digest.update(piece)
                size += len(piece)
        except FileStoreError as exc:
            return {"name": name, "node": node, "ok": False, "error": exc.message}
        return {"name": name, "node": node, "ok": digest.hexdigest() == info.sha256,
                "size": size, "sha256": digest.hexdigest()}


def _level(consistency: str | None) -> dict[str, str]:
    return {"consistency": consistency.upper()} if consistency else {}


def _bar(desc: str, size: int, progress: bool | None) -> tqdm:
    show = size >= BAR_FROM if progress is None else progress
    return tqdm(total=size, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=not show, leave=False)


