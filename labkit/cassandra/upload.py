"""One upload into the file store: bytes in, 256 KiB checksummed blobs out, the row last.

Without an explicit consistency level every blob is written at QUORUM while the driver sees all
replicas up, so any replica read at ONE afterwards has it. A blob that cannot get its QUORUM (a
replica just died) is written again at ONE, and so is the rest of the upload: the file stays
writable and the missing replica gets its copy from the coordinator's hints.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable

from cassandra import ConsistencyLevel
from cassandra.query import PreparedStatement

from labkit.cassandra.store import (
    CHUNK,
    MAX_SIZE,
    BadRequest,
    FileInfo,
    FileStore,
    NotEnoughReplicas,
    QuotaExceeded,
    TooLarge,
    check_name,
    level,
)

ONE, QUORUM = ConsistencyLevel.ONE, ConsistencyLevel.QUORUM


class Upload:
    """Feed it bytes, then `finish()` (or `abort()`)."""

    def __init__(self, store: FileStore, name: str, consistency: str | None, via: str,
                 room: int | None = None) -> None:
        self.store, self.name, self.via = store, name, via
        self.room = room  # bytes the quota leaves for this file (None: no quota check)
        self.fixed = level(consistency) if consistency else None
        self.degraded = False
        self.levels: set[int] = set()
        self.id = uuid.uuid4()
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self.size = 0
        self.count = 0
        self.pending: list[concurrent.futures.Future] = []

    def feed(self, data: bytes) -> list[concurrent.futures.Future]:
        """Take more bytes; returns the blob writes this started (wait on them to pace)."""
        self.size += len(data)
        if self.size > MAX_SIZE:
            raise TooLarge(f"{self.name!r} is larger than {MAX_SIZE >> 20} MiB")
        if self.room is not None and self.size > self.room:
            raise QuotaExceeded(
                f"{self.name!r} does not fit in the lab's file quota: {self.room} bytes are "
                "left; nothing was stored",
                "delete files (`labkit files rm NAME`) or raise `cassandra: {quota: ...}` in "
                "the topology")
        self.digest.update(data)
        self.buffer += data
        started = []
        while len(self.buffer) >= CHUNK:
            started.append(self._blob(bytes(self.buffer[:CHUNK])))
            del self.buffer[:CHUNK]
        return started

    def finish(self) -> FileInfo:
        """Write the last blob and the file's row; the file exists from here on."""
        if self.size == 0:
            raise BadRequest(f"{self.name!r} is empty", "upload a file with content")
        if self.buffer:
            self._blob(bytes(self.buffer))
            self.buffer.clear()
        for fut in self.pending:
            fut.result()
        st = self.store
        old = st._run(st.q["get_file"], (self.name,), ONE, f"reading {self.name!r}").one()
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        row = (self.name, self.id, self.size, self.digest.hexdigest(), self.count, CHUNK, now,
               self.via, self.level_name())
        self._write(st.q["put_file"], row, f"writing {self.name!r}").result()
        if old is not None and old.id != self.id:
            st.drop_chunks(old.id, old.chunks)
        reps = st.replicas(st.q["get_chunk"].bind((self.id, 0)))
        return FileInfo(self.name, self.size, self.digest.hexdigest(), self.count, CHUNK,
                        now.isoformat(), self.via, self.level_name(), str(self.id),
                        [n for n, _ in reps], [n for n, up in reps if not up])

    def abort(self) -> None:
        for fut in self.pending:
            fut.exception()
        self.store.drop_chunks(self.id, self.count)

    def level_name(self) -> str:
        if self.fixed is not None:
            return ConsistencyLevel.value_to_name[self.fixed]
        return "QUORUM" if self.levels == {QUORUM} else "ONE"

    # -- writing --------------------------------------------------------------------------
    def _blob(self, data: bytes) -> concurrent.futures.Future:
        args = (self.id, self.count, data, hashlib.sha256(data).hexdigest())
        fut = self._write(self.store.q["put_chunk"], args,
                          f"writing chunk {self.count} of {self.name!r}")
        self.count += 1
        self.pending.append(fut)
        return fut

    def _level(self) -> int:
        if self.fixed is not None:
            return self.fixed
        return QUORUM if not self.degraded and self.store._ring_up() else ONE

    def _write(self, stmt: PreparedStatement, args: tuple, what: str
               ) -> concurrent.futures.Future:
        """One write at this upload's level; without a fixed level, QUORUM falls back to ONE."""
        out: concurrent.futures.Future = concurrent.futures.Future()
        cl = self._level()

        def settle(f: concurrent.futures.Future, used: int) -> None:
            exc = f.exception()
            if exc is None:
                self.levels.add(used)
                out.set_result(f.result())
            elif isinstance(exc, NotEnoughReplicas) and self.fixed is None and used != ONE:
                self.degraded = True
                again = self.store._async(stmt, args, ONE, what)
                again.add_done_callback(lambda g: settle(g, ONE))
            else:
                out.set_exception(exc)

        self.store._async(stmt, args, cl, what).add_done_callback(lambda f: settle(f, cl))
        return out


def start(store: FileStore, name: str, consistency: str | None = None, via: str = "") -> Upload:
    """A new upload of `name` into `store` (the name is checked before anything is written),
    with the room the lab's quota leaves. Two uploads at once both see the room as it was:
    the quota bounds a learner's disk use, it is not an exact ledger."""
    check_name(name)
    quota = store.layout.topology.cassandra.quota_bytes
    return Upload(store, name, consistency, via, room=max(0, quota - store.used_bytes(name)))


def put(store: FileStore, name: str, data: Iterable[bytes], consistency: str | None = None,
        via: str = "") -> FileInfo:
    """Store a whole file from an iterable of byte strings (any sizes)."""
    up = start(store, name, consistency, via)
    window: list[concurrent.futures.Future] = []
    try:
        for piece in data:
            window += up.feed(piece)
            while len(window) > 4:  # a few blobs in flight, not the whole file
                window.pop(0).result()
        return up.finish()
    except BaseException:
        up.abort()
        raise
