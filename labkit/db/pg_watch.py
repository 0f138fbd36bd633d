"""The PostgreSQL watcher on each `postgres` node: promotion, fencing and synchronous mode.

Run as `python -m labkit.db.pg_watch --lab LAB --node NODE` under the node's supervisor.

* Primary (per the witness): keep the schema, and keep synchronous replication on while the
  standby streams (synchronous_standby_names = '*': an acknowledged commit is flushed on both)
  and off while it is gone (so the primary does not block forever) — what Patroni calls
  synchronous mode. Before it relaxes synchronous_standby_names it records in the witness that
  it goes on alone (under the witness lock, and only while it is still the active of the epoch);
  once the standby streams again, is synchronous, and has flushed the primary's WAL up to an LSN
  taken after synchronous replication was back on, it clears `alone`. A primary that reaches
  no other node never goes on alone: it is probably the one cut off (`stays_waiting`).
* Standby: when the primary stops answering for `failover_after` seconds (the topology's),
  this standby streamed from it in the current epoch, and the primary did not go on alone,
  promote (`pg_promote`) and record the new epoch. If the primary went on alone the standby
  lacks commits a client saw succeed: it refuses, says why, and waits for the primary (or for a
  person to accept the loss with `labkit db force`).
* A running primary that the witness says is no longer active (it was frozen while its peer
  took over) is shut down at once; its launcher rewinds it into a standby when it restarts. A
  primary that finds, at the moment it would relax synchronous replication, that it is no longer
  the active of the current epoch shuts down the same way instead of relaxing: relaxing would
  acknowledge the commits waiting for the standby, which the new primary never got.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import time

import psycopg

from labkit import wait
from labkit.db import witness
from labkit.db.postgres import TIER, connect, nodes
from labkit.db.watcher import TierWatcher, server_answers
from labkit.layout import Layout, node_program_args

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,"
    " node TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS metrics (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,"
    " node TEXT NOT NULL, requests INTEGER NOT NULL, window_s REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS writes (id BIGSERIAL PRIMARY KEY, client TEXT NOT NULL,"
    " seq BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL, UNIQUE (client, seq))",
]

#: pg_stat_replication rows of a streaming standby
STANDBY = "state = 'streaming' AND application_name <> 'pg_basebackup'"
#: the 8 bytes of PostgreSQL's SSLRequest (length 8, code 80877103): the one message a server
#: answers (with one byte) before a login
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
SYNC_SETTLE = 0.2  # seconds after a standby shows as sync before the catch-up LSN is taken


class PgWatcher(TierWatcher):
    tier = TIER
    state_name = "pg"
    server_errors = (psycopg.Error,)

    def __init__(self, layout: Layout, node: str) -> None:
        super().__init__(layout, node, nodes(layout))
        self.schema_ready = False
        self.rejoin_marker = layout.paths.postgres_rejoining(node)
        #: the primary's LSN once synchronous replication was back on, while it is still alone
        self.catch_up_lsn: str | None = None

    def step(self) -> None:
        term = witness.read(self.layout.rundir, TIER)
        if term is None:
            return
        with connect(self.layout, self.node, database="postgres", timeout=1) as conn:
            standby = conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"]
            if term.active == self.node:
                if standby:  # named active by hand (`witness force`)
                    conn.execute("SELECT pg_promote(true, 30)")
                    conn.execute("CHECKPOINT")  # pg_rewind reads the new timeline there
                self.keep_primary(conn, term)
            elif not standby:
                self.fence(term)
            else:
                self.keep_standby(conn, term)

    def keep_primary(self, conn: psycopg.Connection, term: witness.Term) -> None:
        self.keep_schema(conn)
        if not self.layout.topology.postgres.synchronous:
            self.keep_async(conn, term)
            return
        have = conn.execute("SHOW synchronous_standby_names").fetchone()[
            "synchronous_standby_names"]
        if have != "*" and not term.alone and not self.record_alone(term):
            return  # commits without a synchronous standby that the witness did not know of
        if not self.standby_streams(conn):
            self.go_alone(conn, term, have)
        elif have != "*":
            self.set_sync(conn, "*")
            self.catch_up_lsn = None  # taken only once synchronous replication is in effect
            self.say("postgres", f"{self.node}: synchronous replication on: commits wait for "
                                 f"{self.peer} again (synchronous_standby_names = '*')")
            if term.alone and self.sync_in_effect(conn):
                self.end_alone(conn, term)  # at once: until then a failover is refused
        elif term.alone:
            self.end_alone(conn, term)

    def keep_async(self, conn: psycopg.Connection, term: witness.Term) -> None:
        """Asynchronous by topology, unsafe on purpose (the chaos checker's broken case): no
        commit waits for the standby, and the witness is never told that the primary commits
        alone, so the standby may promote without commits a client saw succeed."""
        if conn.execute("SHOW synchronous_standby_names").fetchone()[
                "synchronous_standby_names"]:
            self.set_sync(conn, "")
            self.say("postgres", f"{self.node}: asynchronous replication (unsafe by topology)")
        if term.alone:
            witness.set_alone(self.layout.rundir, TIER, self.node, term.epoch, False)

    def keep_schema(self, conn: psycopg.Connection) -> None:
        if self.schema_ready:
            return
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'labkit'").fetchone():
            conn.execute("CREATE DATABASE labkit")
        with connect(self.layout, self.node, timeout=1) as app:
            for ddl in SCHEMA:
                app.execute(ddl)
        self.schema_ready = True

    @staticmethod
    def standby_streams(conn: psycopg.Connection) -> bool:
        """A standby's walsender is streaming (a frozen standby's stays so until
        wal_sender_timeout); a base backup's WAL stream (a clone being made) is no standby."""
        return conn.execute(f"SELECT count(*) AS n FROM pg_stat_replication WHERE {STANDBY}"
                            ).fetchone()["n"] > 0

    @staticmethod
    def set_sync(conn: psycopg.Connection, names: str) -> None:
        """Set synchronous_standby_names; it is in effect once the reload has reached the
        checkpointer and the walsenders (milliseconds, well within one POLL)."""
        conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        conn.execute("SELECT pg_reload_conf()")

    @staticmethod
    def sync_in_effect(conn: psycopg.Connection, timeout: float = 2.0) -> bool:
        """Wait until pg_stat_replication lists a synchronous standby after a reload.

        The walsenders and the checkpointer (which tells committing backends to wait) take the
        reload in the same moment; SYNC_SETTLE more covers the checkpointer being a little
        later than the walsender.
        """
        def listed() -> bool:
            return conn.execute(f"SELECT count(*) AS n FROM pg_stat_replication WHERE {STANDBY} "
                                "AND sync_state = 'sync'").fetchone()["n"] > 0

        if not wait.until(listed, timeout):
            return False
        time.sleep(SYNC_SETTLE)
        return True

    def record_alone(self, term: witness.Term) -> bool:
        """Record in the witness, under its lock, that this primary commits alone; if it is no
        longer the active of the epoch (its standby was promoted while it was frozen), fence
        instead and answer False."""
        if witness.set_alone(self.layout.rundir, TIER, self.node, term.epoch, True):
            return True
        self.fence(witness.read(self.layout.rundir, TIER) or term)
        return False

    def go_alone(self, conn: psycopg.Connection, term: witness.Term, have: str) -> None:
        """The standby is gone: stop waiting for it, but only after the witness says so."""
        self.catch_up_lsn = None
        if have == "" or self.stays_waiting():
            return
        if not self.record_alone(term):
            return  # relaxing now would acknowledge commits the new primary never got
        self.set_sync(conn, "")
        self.say("postgres_alone", f"{self.node} goes on alone: no standby streams, so commits "
                                   "no longer wait for one (synchronous_standby_names = '') and "
                                   f"{self.peer} may not take over until it has caught up")

    def end_alone(self, conn: psycopg.Connection, term: witness.Term) -> None:
        """Clear `alone` once the synchronous standby has flushed up to an LSN taken after
        synchronous replication was back in effect: every commit acknowledged alone lies below
        it (flushed WAL is what a promotion replays)."""
        if self.catch_up_lsn is None:
            self.catch_up_lsn = conn.execute(
                "SELECT pg_current_wal_lsn()::text AS lsn").fetchone()["lsn"]
        row = conn.execute(
            "SELECT coalesce(bool_or(flush_lsn >= %s::pg_lsn), false) AS caught_up "
            f"FROM pg_stat_replication WHERE {STANDBY} AND sync_state = 'sync'",
            (self.catch_up_lsn,)).fetchone()
        if row["caught_up"] and witness.set_alone(self.layout.rundir, TIER, self.node,
                                                  term.epoch, False):
            self.say("postgres", f"{self.peer} has caught up (flushed up to LSN "
                                 f"{self.catch_up_lsn}): commits on {self.node} wait for it "
                                 "again, and it may take over if this primary fails")

    def fence(self, term: witness.Term) -> None:
        """A primary the witness has replaced: stop it now; it comes back rewound."""
        pid_file = self.layout.paths.postgres_pid(self.node)
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
            self.say("postgres", f"{self.node}: stale primary stopped ({term.active} is "
                                 f"primary in epoch {term.epoch}); it will rejoin rewound")

    def keep_standby(self, conn: psycopg.Connection, term: witness.Term) -> None:
        rec = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
        if rec and rec["status"] == "streaming":
            self.rejoin_marker.unlink(missing_ok=True)
        if rec and rec["status"] == "streaming" and self.synced_epoch != term.epoch:
            self.remember_synced(term.epoch)
            self.say("postgres", f"{self.node}: streaming standby of {self.peer}")
        caught_up = self.synced_epoch == term.epoch and not term.alone
        if not self.may_take_over(term, caught_up, self.why_not(term)):
            return
        new = witness.claim(self.layout.rundir, TIER, self.node, term.epoch, alone=True)
        if new is None:
            return
        conn.execute("SELECT pg_promote(true, 30)")
        # the new timeline reaches pg_control only at a checkpoint; pg_rewind reads it there
        conn.execute("CHECKPOINT")
        self.promoted("PostgreSQL primary", new.epoch)

    def why_not(self, term: witness.Term) -> str:
        """What the learner reads when this standby refuses to take over."""
        if term.alone:
            since = time.strftime("%H:%M:%S", time.localtime(term.alone_since or term.since))
            return (f"{term.active} committed alone since {since} (epoch {term.epoch}, "
                    f"synchronous_standby_names = ''), and {self.node} lacks those commits; "
                    f"recover {term.active}, or accept the loss with `labkit db force {TIER} "
                    f"{self.node} --lab {self.layout.lab}`")
        return f"it never streamed from {term.active} in epoch {term.epoch}; waiting for it"

    def peer_answers(self) -> bool:
        # a live PostgreSQL answers an SSLRequest with one byte ('S' or 'N') before any login
        return server_answers(self.layout.address(self.peer), self.layout.ports.postgres,
                              SSL_REQUEST)


def main() -> None:
    layout, node = node_program_args(__doc__)
    PgWatcher(layout, node).run()


if __name__ == "__main__":
    main()
