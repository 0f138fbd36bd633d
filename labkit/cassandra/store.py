"""Device image files kept in Cassandra as checksummed blobs (the NBI's file store).

A file is a row in `files` (name → upload id, size, SHA-256, when, through which node) and its
bytes in `chunks`, one 256 KiB blob per partition, each with its own SHA-256. An upload writes
every chunk first and the `files` row last, so a reader never sees a half-written file; a new
upload of the same name replaces the row, then drops the old chunks.

Consistency is chosen per request; an explicit level is taken as asked, so QUORUM or ALL with
a replica down fails with a message naming it. Without one, the store stays available and reads
its own writes: uploads go at QUORUM while every replica is up and at ONE once one is not (the
coordinator keeps hints for it); reads go at ONE, and a row missing at ONE (a replica that came
back before its hints arrived) is asked again at QUORUM, which repairs the stale replica.

Backpressure is waited out, not reported: a busy Cassandra node stops reading its CQL socket
(`native_transport_max_request_data_in_flight_per_ip`), and the driver then refuses to queue a
statement on that connection (ConnectionBusy) and tries the next host. With every replica up
another host takes it; with one down there is none, and the driver gives up at once with
NoHostAvailable although nothing was sent and the live node is only slow. Such a statement is
sent again after a short pause (for at most BUSY_WAIT seconds): the driver met no server that
took it, and every statement of the store is idempotent anyway (speculative execution sends
them twice already).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from cassandra import (
    ConsistencyLevel,
    DriverException,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
)
from cassandra.cluster import NoHostAvailable, ResponseFuture, Session
from cassandra.connection import ConnectionBusy
from cassandra.pool import NoConnectionsAvailable
from cassandra.query import PreparedStatement

from labkit.cassandra import client, config
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.names import FILE_NAME, FILE_NAME_HINT

CHUNK = 256 * 1024
MAX_SIZE = 1 << 30  # 1 GiB: far above any device image a lesson moves
NAME = FILE_NAME  #: the one file-name rule (labkit.names)
LEVELS = ("ONE", "QUORUM", "ALL")
KS = config.KEYSPACE
DRIVER_ERRORS = (DriverException, NoHostAvailable)
BUSY_WAIT = 3.0  # seconds a statement waits out backpressure before the error is the answer
BUSY_PAUSE = 0.05


def never_sent(exc: BaseException) -> bool:
    """The driver gave up before sending to anyone: every host it tried had its connection
    busy (socket not writable) or at its request limit. Nothing reached a server."""
    errors = getattr(exc, "errors", None)
    return (isinstance(exc, NoHostAvailable) and isinstance(errors, dict) and bool(errors)
            and all(isinstance(e, ConnectionBusy | NoConnectionsAvailable)
                    for e in errors.values()))


def _tried(exc: Exception) -> str:
    """What the driver met at each host it tried ("node1: ConnectionBusy"), or the error's own
    type: enough to tell a timeout from a refused connection in a failed test's output."""
    errors = getattr(exc, "errors", None)
    if isinstance(errors, dict) and errors:
        return ", ".join(f"{getattr(h, 'address', h)}: {type(e).__name__}"
                         for h, e in errors.items())
    return type(exc).__name__


class FileStoreError(LabError):
    status = 500


class BadRequest(FileStoreError):
    status = 400


class NotFound(FileStoreError):
    status = 404


class TooLarge(FileStoreError):
    status = 413


class QuotaExceeded(FileStoreError):
    """The lab's file store would hold more than its quota (topology `cassandra: {quota}`)."""

    status = 507


class NotEnoughReplicas(FileStoreError):
    """The consistency level asked for cannot be met right now (a replica is down or slow)."""

    status = 503


class Corrupt(FileStoreError):
    status = 502


def create_schema(layout: Layout) -> None:
    """The keyspace and tables (idempotent: runs after every start and recovery)."""
    s = client.session(layout)
    rf = config.replication_factor(layout)
    s.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
              f"{{'class': 'NetworkTopologyStrategy', '{config.DC}': {rf}}}")
    s.execute(f"""CREATE TABLE IF NOT EXISTS {KS}.files (
        name text PRIMARY KEY, id uuid, size bigint, sha256 text, chunks int, chunk_size int,
        uploaded_at timestamp, uploaded_via text, consistency text)
        WITH speculative_retry = '50ms'""")
    # images do not compress; a fixed speculative retry skips a frozen replica after 50 ms
    s.execute(f"""CREATE TABLE IF NOT EXISTS {KS}.chunks (
        id uuid, idx int, data blob, sha256 text, PRIMARY KEY ((id, idx)))
        WITH compression = {{'enabled': 'false'}} AND speculative_retry = '50ms'""")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):  # fullmatch: "$" would let a trailing newline in
        raise BadRequest(f"bad file name {name!r}", FILE_NAME_HINT)
    return name


def level(name: str | None, default: str = "ONE") -> int:
    name = (name or default).upper()
    if name not in LEVELS:
        raise BadRequest(f"unknown consistency level {name!r}", f"use one of {', '.join(LEVELS)}")
    return getattr(ConsistencyLevel, name)


@dataclass
class FileInfo:
    name: str
    size: int
    sha256: str
    chunks: int
    chunk_size: int
    uploaded_at: str
    uploaded_via: str
    consistency: str
    id: str
    stored_on: list[str] = field(default_factory=list)
    replicas_down: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def durability(level_reached: str, commitlog_sync: str, replication_factor: int) -> str:
    """What an acknowledgement at `level_reached` promises, said plainly (issue 18, path 7)."""
    disk = ("fsynced to its commit log before it answered" if commitlog_sync == "batch" else
            "in its commit log, fsynced within 10 s (a killed process loses nothing; a machine "
            "that loses power could lose those seconds)")
    if level_reached == "ONE" and replication_factor > 1:
        return (f"acknowledged by one replica only, {disk}; the other copies follow from the "
                "coordinator's hints or repair: lose that replica's disk before then and the "
                "file is gone")
    return f"acknowledged by {level_reached} of {replication_factor} replicas, each {disk}"


class FileStore:
    """The file store of one lab, on the whole ring or (`node=`) through one node only."""

    def __init__(self, layout: Layout, node: str | None = None) -> None:
        self.layout = layout
        self.node = node
        self.s: Session = client.pinned(layout, node) if node else client.session(layout)
        self.q = _statements(self.s)

    # -- replicas -------------------------------------------------------------------------
    def replicas(self, bound: Any) -> list[tuple[str, bool]]:
        """(node, driver thinks it is up) for each replica of a statement's partition."""
        hosts = self.s.cluster.metadata.get_replicas(KS, bound.routing_key)
        out = [(self.layout.node_of(h.address) or h.address, bool(h.is_up)) for h in hosts]
        return sorted(out)

    def _explain(self, exc: Exception, what: str, bound: Any, cl: int) -> FileStoreError:
        if isinstance(exc, NoHostAvailable):  # the coordinators' own answers say more
            inner = [e for e in (exc.errors or {}).values()
                     if isinstance(e, Unavailable | ReadTimeout | WriteTimeout)]
            exc = inner[0] if inner else exc
        reps = self.replicas(bound)
        names = [n for n, _ in reps]
        down = [n for n, up in reps if not up]
        cl_name = ConsistencyLevel.value_to_name[cl]
        missing = (f"{', '.join(down)} is down" if down else
                   f"one of {', '.join(names)} is not answering")
        hint = ("read or write at ONE (`?consistency=ONE`), or bring the replica back "
                "(`labkit recover NODE`)")
        if isinstance(exc, Unavailable):
            return NotEnoughReplicas(
                f"{what} at {cl_name} needs {exc.required_replicas} of the replicas "
                f"{', '.join(names)}, but only {exc.alive_replicas} is alive: {missing}", hint)
        if isinstance(exc, ReadTimeout | WriteTimeout):
            return NotEnoughReplicas(
                f"{what} at {cl_name}: only {exc.received_responses} of "
                f"{exc.required_responses} replicas answered in time: {missing}", hint)
        if isinstance(exc, NoHostAvailable | OperationTimedOut):
            return NotEnoughReplicas(f"{what}: no Cassandra node answered ({missing}; "
                                     f"{_tried(exc)})",
                                     "check `labkit status`; `labkit recover NODE`")
        return FileStoreError(f"{what} failed in Cassandra: {type(exc).__name__}: "
                              f"{str(exc)[:200]}")

    def _run(self, stmt: PreparedStatement, args: tuple, cl: int, what: str) -> Any:
        bound = stmt.bind(args)
        bound.consistency_level = cl
        deadline = time.monotonic() + BUSY_WAIT
        while True:
            try:
                return self.s.execute(bound)
            except DRIVER_ERRORS as exc:
                if not (never_sent(exc) and time.monotonic() < deadline):
                    raise self._explain(exc, what, bound, cl) from None
            time.sleep(BUSY_PAUSE)

    def _async(self, stmt: PreparedStatement, args: tuple, cl: int,
               what: str) -> concurrent.futures.Future:
        """Start a statement; the future holds its (first page of) rows as a list, or the
        explained error."""
        bound = stmt.bind(args)
        bound.consistency_level = cl
        done: concurrent.futures.Future = concurrent.futures.Future()
        deadline = time.monotonic() + BUSY_WAIT

        def send() -> None:
            rf: ResponseFuture = self.s.execute_async(bound)
            rf.add_callbacks(done.set_result, failed)

        def failed(exc: Exception) -> None:
            if never_sent(exc) and time.monotonic() < deadline:
                again = threading.Timer(BUSY_PAUSE, send)  # not on the driver's own thread
                again.daemon = True
                again.start()
                return
            err = self._explain(exc, what, bound, cl) if isinstance(exc, DRIVER_ERRORS) \
                else FileStoreError(f"{what}: {exc}")
            done.set_exception(err)
        send()
        return done

    # -- reads ----------------------------------------------------------------------------
    def stat(self, name: str, consistency: str | None = None) -> FileInfo:
        check_name(name)
        row = self._read_one(self.q["get_file"], (name,), consistency, f"reading {name!r}")
        if row is None:
            raise NotFound(f"no file named {name!r}", "see `labkit files ls`")
        return self._info(row)

    def _read_one(self, stmt: PreparedStatement, args: tuple, consistency: str | None,
                  what: str) -> Any:
        row = self._run(stmt, args, level(consistency), what).one()
        if row is None and consistency is None and self._ring_up():
            try:
                row = self._run(stmt, args, ConsistencyLevel.QUORUM, what).one()
            except NotEnoughReplicas:
                return None
        return row

    def _ring_up(self) -> bool:
        """Whether the driver sees every Cassandra node up (QUORUM stands a chance)."""
        return all(h.is_up for h in self.s.cluster.metadata.all_hosts())

    def chunk(self, info: FileInfo, idx: int, consistency: str | None = None
              ) -> concurrent.futures.Future:
        """One verified chunk of a file (a future of its bytes)."""
        out: concurrent.futures.Future = concurrent.futures.Future()
        args = (uuid.UUID(info.id), idx)
        what = f"reading chunk {idx} of {info.name!r}"
        first = self._async(self.q["get_chunk"], args, level(consistency), what)

        def check(rows_future: concurrent.futures.Future, retried: bool) -> None:
            try:
                rows = rows_future.result()
            except Exception as exc:  # noqa: BLE001 - the reader gets it, not the driver thread
                out.set_exception(exc)
                return
            row = rows[0] if rows else None
            if row is None and not retried and consistency is None and self._ring_up():
                again = self._async(self.q["get_chunk"], args, ConsistencyLevel.QUORUM, what)
                again.add_done_callback(lambda f: check(f, True))
                return
            if row is None:
                out.set_exception(NotFound(f"chunk {idx} of {info.name!r} is missing at this "
                                           "consistency level",
                                           "a replica that just came back may still be "
                                           "receiving its hints: retry, or read at QUORUM"))
            elif hashlib.sha256(row.data).hexdigest() != row.sha256:
                out.set_exception(Corrupt(f"chunk {idx} of {info.name!r} fails its checksum"))
            else:
                out.set_result(bytes(row.data))
        first.add_done_callback(lambda f: check(f, False))
        return out

    def read(self, name: str, consistency: str | None = None,
             prefetch: int = 2) -> tuple[FileInfo, Iterator[bytes]]:
        """The file's facts and an iterator of its verified bytes (checked whole at the end)."""
        info = self.stat(name, consistency)
        return info, self._chunks(info, consistency, prefetch)

    def _chunks(self, info: FileInfo, consistency: str | None, prefetch: int) -> Iterator[bytes]:
        pending = [self.chunk(info, i, consistency) for i in range(min(prefetch, info.chunks))]
        digest = hashlib.sha256()
        for i in range(info.chunks):
            data = pending.pop(0).result()
            if i + len(pending) + 1 < info.chunks:
                pending.append(self.chunk(info, i + len(pending) + 1, consistency))
            digest.update(data)
            if i == info.chunks - 1 and digest.hexdigest() != info.sha256:
                # the last bytes are held back: a reader never gets a whole wrong file
                raise Corrupt(f"{info.name!r} does not match its SHA-256 {info.sha256}")
            yield data

    def list(self, consistency: str | None = None) -> list[FileInfo]:
        cl = level(consistency)
        if consistency is None and self._ring_up():
            cl = ConsistencyLevel.QUORUM  # a returning replica cannot hide recent uploads
        rows = self._run(self.q["list_files"], (), cl, "listing files")
        return sorted((self._info(r) for r in rows), key=lambda f: f.name)

    def _info(self, row: Any) -> FileInfo:
        reps = self.replicas(self.q["get_chunk"].bind((row.id, 0)))
        when = row.uploaded_at.replace(tzinfo=dt.timezone.utc).isoformat() \
            if row.uploaded_at else ""
        return FileInfo(row.name, row.size, row.sha256, row.chunks, row.chunk_size, when,
                        row.uploaded_via or "", row.consistency or "", str(row.id),
                        [n for n, _ in reps], [n for n, up in reps if not up])

    def used_bytes(self, excluding: str = "") -> int:
        """What the stored files hold in all (read at ONE: the quota is a guard, not a ledger),
        leaving out `excluding`, the file an upload is about to replace."""
        rows = self._run(self.q["sizes"], (), ConsistencyLevel.ONE, "adding up the files")
        return sum(r.size or 0 for r in rows if r.name != excluding)

    # -- writes (uploads: labkit.cassandra.upload) ------------------------------------------
    def delete(self, name: str, consistency: str | None = None) -> FileInfo:
        info = self.stat(name, consistency)
        cl = level(consistency)
        self._run(self.q["delete_file"], (name,), cl, f"deleting {name!r}")
        self.drop_chunks(uuid.UUID(info.id), info.chunks, cl)
        return info

    def drop_chunks(self, blob_id: uuid.UUID, count: int, cl: int = ConsistencyLevel.ONE
                    ) -> None:
        futures = [self._async(self.q["delete_chunk"], (blob_id, i), cl, "dropping a chunk")
                   for i in range(count)]
        for f in futures:
            f.exception()  # best effort: an orphan chunk is garbage, not a wrong answer


_prepared: dict[int, tuple[Session, dict[str, PreparedStatement]]] = {}


def _statements(s: Session) -> dict[str, PreparedStatement]:
    """The store's statements, prepared once per session."""
    cached = _prepared.get(id(s))
    if cached is not None and cached[0] is s:
        return cached[1]
    cql = {
        "get_file": f"SELECT * FROM {KS}.files WHERE name = ?",
        "list_files": f"SELECT * FROM {KS}.files",
        "sizes": f"SELECT name, size FROM {KS}.files",
        "put_file": f"INSERT INTO {KS}.files (name, id, size, sha256, chunks, chunk_size, "
                    "uploaded_at, uploaded_via, consistency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "delete_file": f"DELETE FROM {KS}.files WHERE name = ?",
        "get_chunk": f"SELECT data, sha256 FROM {KS}.chunks WHERE id = ? AND idx = ?",
        "put_chunk": f"INSERT INTO {KS}.chunks (id, idx, data, sha256) VALUES (?, ?, ?, ?)",
        "delete_chunk": f"DELETE FROM {KS}.chunks WHERE id = ? AND idx = ?",
    }
    out = {}
    for key, text in cql.items():
        stmt = s.prepare(text)
        stmt.is_idempotent = True  # every statement here may be sent twice (speculation)
        out[key] = stmt
    _prepared[id(s)] = (s, out)
    return out
