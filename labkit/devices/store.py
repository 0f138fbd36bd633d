"""The device tier's tables in the replicated MySQL: devices, their assignments, jobs.

Assignments are decided in one place at a time (a MySQL named lock around every change) and read
by every node's mediator, so the database is the arbiter when nodes disagree: a node that cannot
reach the active MySQL cannot change any assignment. Connections go through the MySQL tier's own
failover-aware helper (`labkit.db.mysql.connect_active`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pymysql

from labkit.db import mysql
from labkit.layout import Layout

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS devices (
        name VARCHAR(16) PRIMARY KEY,
        port INT NOT NULL,
        node VARCHAR(16) NULL,            -- the node that mediates it
        session_node VARCHAR(16) NULL,    -- the node whose NETCONF session is up now
        session_since DOUBLE NULL,
        framing VARCHAR(4) NULL,
        model VARCHAR(32) NULL,
        discovered DOUBLE NOT NULL,
        assigned_at DOUBLE NULL,
        config_hash CHAR(64) NULL,
        resynced DOUBLE NULL,
        KEY by_node (node)) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS device_jobs (
        id INT AUTO_INCREMENT PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        state VARCHAR(16) NOT NULL,
        total INT NOT NULL,
        requested_on VARCHAR(16) NOT NULL,
        created DOUBLE NOT NULL,
        ended DOUBLE NULL) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS device_subjobs (
        id INT AUTO_INCREMENT PRIMARY KEY,
        job_id INT NOT NULL,
        node VARCHAR(16) NULL,
        state VARCHAR(16) NOT NULL,       -- queued, running, done, partial, lost
        devices TEXT NOT NULL,
        total INT NOT NULL,
        attempt INT NOT NULL DEFAULT 1,
        replaces INT NULL,
        created DOUBLE NOT NULL,
        started DOUBLE NULL,
        ended DOUBLE NULL,
        note VARCHAR(255) NULL,
        KEY by_job (job_id), KEY by_node (node, state)) ENGINE=InnoDB""",
    """CREATE TABLE IF NOT EXISTS device_resyncs (
        job_id INT NOT NULL,
        device VARCHAR(16) NOT NULL,
        node VARCHAR(16) NOT NULL,
        subjob_id INT NOT NULL,
        at DOUBLE NOT NULL,
        config_hash CHAR(64) NOT NULL,
        PRIMARY KEY (job_id, device)) ENGINE=InnoDB""",
)
LOCK = "labkit_device_assignments"
CHUNK = 500  #: devices per batched statement (well inside max_allowed_packet)
ACTIVE_SUBJOB = ("queued", "running")


class Store:
    """One connection to the active MySQL, reopened after any error (a failover moves it)."""

    def __init__(self, layout: Layout, timeout: float = 2.0, read_timeout: float = 5.0) -> None:
        self.layout = layout
        self.timeout = timeout
        self.read_timeout = read_timeout
        self._conn: pymysql.connections.Connection | None = None
        self._lock = threading.RLock()  # one statement at a time on the shared connection

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Any]:
        with self._lock:
            if self._conn is None:
                self._conn = mysql.connect_active(self.layout, timeout=self.timeout,
                                                  read_timeout=self.read_timeout)
            try:
                with self._conn.cursor() as cur:
                    yield cur
            except BaseException:
                self.close()
                raise

    @contextlib.contextmanager
    def transaction(self, lock: bool = True) -> Iterator[Any]:
        """A transaction, under the assignments lock when `lock` (one writer at a time)."""
        with self.cursor() as cur:
            if lock:
                cur.execute("SELECT GET_LOCK(%s, 10) AS got", (LOCK,))
                if not cur.fetchone()["got"]:
                    raise mysql.FailoverInProgress("another node is changing assignments",
                                                   "retry in a moment")
            try:
                cur.execute("BEGIN")
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            finally:
                if lock:
                    with contextlib.suppress(Exception):
                        cur.execute("DO RELEASE_LOCK(%s)", (LOCK,))

    def ensure_schema(self) -> None:
        with self.cursor() as cur:
            for ddl in SCHEMA:
                cur.execute(ddl)

    # -- devices ------------------------------------------------------------------------------
    def assignments(self, cur: Any = None) -> dict[str, str | None]:
        if cur is None:
            with self.cursor() as c:
                return self.assignments(c)
        cur.execute("SELECT name, node FROM devices")
        return {r["name"]: r["node"] for r in cur.fetchall()}

    def devices(self) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute("SELECT * FROM devices ORDER BY name")
            return list(cur.fetchall())

    def mine(self, node: str) -> dict[str, str | None]:
        """The devices assigned to `node`, with the model last seen (None: never connected)."""
        with self.cursor() as cur:
            cur.execute("SELECT name, model FROM devices WHERE node = %s", (node,))
            return {r["name"]: r["model"] for r in cur.fetchall()}

    def add(self, cur: Any, moves: dict[str, tuple[str | None, str]], ports: dict[str, int]
            ) -> None:
        now = time.time()
        cur.executemany("INSERT INTO devices (name, port, node, discovered, assigned_at) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        [(d, ports[d], to, now, now) for d, (_src, to) in moves.items()])

    def move(self, cur: Any, moves: dict[str, tuple[str | None, str]]) -> None:
        """Reassign; the old owner's session no longer counts (the new owner reports its own).

        One UPDATE per destination node, not one per device: a dead node's 250 devices move in
        three statements of the one transaction."""
        now = time.time()
        for to, names in by_destination(moves).items():
            for part in chunks(names):
                cur.execute("UPDATE devices SET node = %s, session_node = NULL, "
                            "session_since = NULL, assigned_at = %s WHERE name IN "
                            f"({marks(part)})", [to, now, *part])

    def forget(self, names: list[str] | None) -> int:
        with self.transaction() as cur:
            if names is None:
                return cur.execute("DELETE FROM devices")
            if not names:
                return 0
            marks = ",".join(["%s"] * len(names))
            return cur.execute(f"DELETE FROM devices WHERE name IN ({marks})", names)

    def report_sessions(self, node: str, up: dict[str, dict[str, Any]], down: list[str]) -> None:
        """Record this node's session changes (only for devices still assigned to it).

        One transaction of a few statements for the whole batch: with autocommit each device
        was its own commit, and each commit waits for the semi-synchronous replica's
        acknowledgement, which bounded how fast a thousand new sessions could be recorded."""
        with self.transaction(lock=False) as cur:
            for part in chunks(sorted(up)):
                rows = " UNION ALL ".join(["SELECT %s AS name, %s AS since, %s AS framing, "
                                           "%s AS model"] * len(part))
                cur.execute(f"UPDATE devices d JOIN ({rows}) s ON d.name = s.name "
                            "SET d.session_node = %s, d.session_since = s.since, "
                            "d.framing = s.framing, d.model = COALESCE(s.model, d.model) "
                            "WHERE d.node = %s",
                            [v for d in part for v in (d, up[d]["since"], up[d]["framing"],
                                                       up[d].get("model"))] + [node, node])
            for part in chunks(sorted(down)):
                cur.execute("UPDATE devices SET session_node = NULL, session_since = NULL "
                            f"WHERE session_node = %s AND name IN ({marks(part)})",
                            [node, *part])

    def summary(self) -> dict[str, Any]:
        with self.cursor() as cur:
            cur.execute("SELECT name, node, session_node FROM devices ORDER BY name")
            return {"rows": list(cur.fetchall())}

    # -- jobs ---------------------------------------------------------------------------------
    def create_job(self, kind: str, node: str, groups: dict[str | None, list[str]]) -> int:
        now = time.time()
        total = sum(len(v) for v in groups.values())
        with self.transaction(lock=False) as cur:
            cur.execute("INSERT INTO device_jobs (kind, state, total, requested_on, created) "
                        "VALUES (%s, 'running', %s, %s, %s)", (kind, total, node, now))
            job_id = cur.lastrowid
            self._add_subjobs(cur, job_id, {n: d for n, d in groups.items() if n}, attempt=1,
                              replaces=None)
        return job_id

    @staticmethod
    def _add_subjobs(cur: Any, job_id: int, groups: dict[str | None, list[str]], attempt: int,
                     replaces: int | None) -> None:
        now = time.time()
        cur.executemany(
            "INSERT INTO device_subjobs (job_id, node, state, devices, total, attempt, replaces,"
            " created) VALUES (%s, %s, 'queued', %s, %s, %s, %s, %s)",
            [(job_id, node, json.dumps(devs), len(devs), attempt, replaces, now)
             for node, devs in sorted(groups.items(), key=lambda kv: kv[0] or "") if devs])

    def claim_subjobs(self, node: str) -> list[dict[str, Any]]:
        """Queued sub-jobs for this node, now marked running by it."""
        with self.cursor() as cur:
            cur.execute("SELECT id FROM device_subjobs WHERE node = %s AND state = 'queued'",
                        (node,))
            claimed = []
            for row in cur.fetchall():
                if cur.execute("UPDATE device_subjobs SET state = 'running', started = %s "
                               "WHERE id = %s AND state = 'queued' AND node = %s",
                               (time.time(), row["id"], node)):
                    claimed.append(row["id"])
            if not claimed:
                return []
            marks = ",".join(["%s"] * len(claimed))
            cur.execute(f"SELECT * FROM device_subjobs WHERE id IN ({marks})", claimed)
            return [_subjob(r) for r in cur.fetchall()]

    def requeue(self, node: str) -> int:
        """Queue again the sub-jobs a previous run of this node's app server left running."""
        with self.cursor() as cur:
            return cur.execute("UPDATE device_subjobs SET state = 'queued', note = %s "
                               "WHERE node = %s AND state = 'running'",
                               (f"{node} restarted: run again", node))

    def done_devices(self, job_id: int) -> set[str]:
        with self.cursor() as cur:
            cur.execute("SELECT device FROM device_resyncs WHERE job_id = %s", (job_id,))
            return {r["device"] for r in cur.fetchall()}

    def record_resyncs(self, job_id: int, subjob_id: int, node: str,
                       done: list[tuple[str, str]]) -> list[str]:
        """Record finished devices (device, config digest) of a job, with each device's new
        hash, in one transaction: one commit (one wait for the standby's acknowledgement) for
        the lot. Returns the devices this job had already recorded (nothing written for them:
        the duplicate row's INSERT alone fails, the rest of the transaction goes on)."""
        now = time.time()
        already = []
        with self.cursor() as cur:
            cur.execute("BEGIN")
            for device, digest in done:
                try:
                    cur.execute("INSERT INTO device_resyncs (job_id, device, node, subjob_id, "
                                "at, config_hash) VALUES (%s, %s, %s, %s, %s, %s)",
                                (job_id, device, node, subjob_id, now, digest))
                except pymysql.IntegrityError:
                    already.append(device)
                    continue
                cur.execute("UPDATE devices SET config_hash = %s, resynced = %s WHERE name = %s",
                            (digest, now, device))
            cur.execute("COMMIT")
        return already

    def finish_subjob(self, subjob: dict[str, Any], leftover: list[str], note: str,
                      assignments: dict[str, str | None], max_attempts: int = 3) -> None:
        """End a sub-job; devices it could not do go to new sub-jobs on their current nodes."""
        with self.transaction() as cur:
            cur.execute("UPDATE device_subjobs SET state = %s, ended = %s, note = %s "
                        "WHERE id = %s", ("partial" if leftover else "done", time.time(),
                                          note[:255] or None, subjob["id"]))
            if leftover and subjob["attempt"] < max_attempts:
                self._resplit(cur, subjob, leftover, assignments, None)
            self._finish_job_if_complete(cur, subjob["job_id"])

    def lose_subjobs(self, live: list[str], assignments: dict[str, str | None],
                     max_attempts: int = 3) -> list[dict]:
        """Sub-jobs whose node is not live: mark them lost, re-run what they had not done."""
        with self.cursor() as cur:
            cur.execute("SELECT node FROM device_subjobs WHERE state IN ('queued', 'running')")
            if all(r["node"] in live for r in cur.fetchall()):
                return []
        with self.transaction() as cur:
            cur.execute("SELECT * FROM device_subjobs WHERE state IN ('queued', 'running')")
            lost = [_subjob(r) for r in cur.fetchall() if r["node"] not in live]
            for sj in lost:
                cur.execute("SELECT device FROM device_resyncs WHERE job_id = %s",
                            (sj["job_id"],))
                done = {r["device"] for r in cur.fetchall()}
                cur.execute("UPDATE device_subjobs SET state = 'lost', ended = %s, note = %s "
                            "WHERE id = %s", (time.time(), f"{sj['node']} left the cluster",
                                              sj["id"]))
                if sj["attempt"] < max_attempts:
                    self._resplit(cur, sj, [d for d in sj["devices"] if d not in done],
                                  assignments, live)
                self._finish_job_if_complete(cur, sj["job_id"])
        return lost

    def _resplit(self, cur: Any, subjob: dict[str, Any], leftover: list[str],
                 assignments: dict[str, str | None], live: list[str] | None) -> None:
        """New sub-jobs for `leftover`, one per node now serving some of them (devices with no
        live node to serve them stay undone: the job then ends failed, saying so)."""
        from labkit.devices.mediation import split

        groups = {n: d for n, d in split(leftover, assignments).items()
                  if n is not None and (live is None or n in live)}
        self._add_subjobs(cur, subjob["job_id"], groups, attempt=subjob["attempt"] + 1,
                          replaces=subjob["id"])

    @staticmethod
    def _finish_job_if_complete(cur: Any, job_id: int) -> None:
        cur.execute("SELECT COUNT(*) AS n FROM device_subjobs WHERE job_id = %s AND state IN "
                    "('queued', 'running')", (job_id,))
        if cur.fetchone()["n"]:
            return
        cur.execute("SELECT total FROM device_jobs WHERE id = %s", (job_id,))
        total = cur.fetchone()["total"]
        cur.execute("SELECT COUNT(*) AS n FROM device_resyncs WHERE job_id = %s", (job_id,))
        done = cur.fetchone()["n"]
        cur.execute("UPDATE device_jobs SET state = %s, ended = %s WHERE id = %s AND "
                    "state = 'running'", ("done" if done == total else "failed", time.time(),
                                          job_id))

    def job(self, job_id: int) -> dict[str, Any] | None:
        with self.cursor() as cur:
            cur.execute("SELECT * FROM device_jobs WHERE id = %s", (job_id,))
            job = cur.fetchone()
            if job is None:
                return None
            cur.execute("SELECT * FROM device_subjobs WHERE job_id = %s ORDER BY id", (job_id,))
            subjobs = [_subjob(r) for r in cur.fetchall()]
            cur.execute("SELECT subjob_id, COUNT(*) AS n FROM device_resyncs WHERE job_id = %s"
                        " GROUP BY subjob_id", (job_id,))
            done = {r["subjob_id"]: r["n"] for r in cur.fetchall()}
        return _job_view(job, subjobs, done)

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.cursor() as cur:
            cur.execute("SELECT id FROM device_jobs ORDER BY id DESC LIMIT %s", (limit,))
            ids = [r["id"] for r in cur.fetchall()]
        return [j for j in (self.job(i) for i in ids) if j is not None]

    def latest_job_id(self) -> int | None:
        with self.cursor() as cur:
            cur.execute("SELECT MAX(id) AS id FROM device_jobs")
            return cur.fetchone()["id"]


def _subjob(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "devices": json.loads(row["devices"])}


def _job_view(job: dict[str, Any], subjobs: list[dict[str, Any]],
              per_subjob: dict[int, int]) -> dict[str, Any]:
    """A job as the NBI shows it: progress, timings, and each sub-job's."""
    starts = [s["started"] for s in subjobs if s["started"]]
    started = min(starts) if starts else None
    end = job["ended"]
    return {
        "id": job["id"], "kind": job["kind"], "state": job["state"], "total": job["total"],
        "done": sum(per_subjob.values()), "requested_on": job["requested_on"],
        "created": job["created"], "started": started, "ended": end,
        "duration": (end - job["created"]) if end else None,
        "subjobs": [{
            "id": s["id"], "name": f"{job['kind']} {job['id']}.{s['id']}", "node": s["node"],
            "state": s["state"], "total": s["total"], "done": per_subjob.get(s["id"], 0),
            "attempt": s["attempt"], "replaces": s["replaces"], "created": s["created"],
            "start": s["started"], "end": s["ended"],
            "duration": (s["ended"] - s["started"]) if s["ended"] and s["started"] else None,
            "note": s["note"], "devices": s["devices"]} for s in subjobs],
    }


def by_destination(moves: dict[str, tuple[str | None, str]]) -> dict[str, list[str]]:
    """Moved devices grouped by the node they go to (one UPDATE each), in name order."""
    groups: dict[str, list[str]] = {}
    for dev, (_src, to) in sorted(moves.items()):
        groups.setdefault(to, []).append(dev)
    return groups


def chunks(names: list[str], size: int = CHUNK) -> list[list[str]]:
    return [names[i:i + size] for i in range(0, len(names), size)]


def marks(names: list[str]) -> str:
    return ",".join(["%s"] * len(names))
