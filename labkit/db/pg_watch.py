"""The PostgreSQL watcher on each `postgres` node: promotion, fencing and synchronous mode.

Run as `python -m labkit.db.pg_watch --lab LAB --node NODE` under the node's supervisor.

* Primary (per the witness): keep the schema, and keep synchronous replication on while the
  standby streams (so an acknowledged commit is on both) and off while it is gone (so the
  primary does not block forever) — what Patroni calls synchronous mode.
* Standby: when the primary stops answering for `FAILOVER_AFTER` seconds (labkit.db.watcher)
  and this standby was streaming from it in the current epoch, promote (`pg_promote`) and
  record the new epoch.
* A running primary that the witness says is no longer active (it was frozen while its peer
  took over) is shut down at once; its launcher rewinds it into a standby when it restarts.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psycopg

from labkit.db import witness
from labkit.db.postgres import TIER, connect, nodes
from labkit.db.watcher import TierWatcher
from labkit.layout import Layout, node_program_args

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,"
    " node TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')",
    "CREATE TABLE IF NOT EXISTS metrics (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,"
    " node TEXT NOT NULL, requests INTEGER NOT NULL, window_s REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS writes (id BIGSERIAL PRIMARY KEY, client TEXT NOT NULL,"
    " seq BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL, UNIQUE (client, seq))",
]


class PgWatcher(TierWatcher):
    tier = TIER
    state_name = "pg"
    server_errors = (psycopg.Error,)

    def __init__(self, layout: Layout, node: str) -> None:
        super().__init__(layout, node, nodes(layout))
        self.schema_ready = False
        self.rejoin_marker = layout.paths.postgres_rejoining(node)

    def step(self) -> None:
        term = witness.read(self.layout.rundir, TIER)
        if term is None:
            return
        with connect(self.layout, self.node, database="postgres", timeout=1) as conn:
            standby = conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"]
            if term.active == self.node:
                if standby:
                    conn.execute("SELECT pg_promote(true, 30)")
                self.keep_primary(conn)
            elif not standby:
                self.fence(term)
            else:
                self.keep_standby(conn, term)

    def keep_primary(self, conn: psycopg.Connection) -> None:
        if not self.schema_ready:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'labkit'").fetchone():
                conn.execute("CREATE DATABASE labkit")
            with connect(self.layout, self.node, timeout=1) as app:
                for ddl in SCHEMA:
                    app.execute(ddl)
            self.schema_ready = True
        streaming = conn.execute("SELECT count(*) AS n FROM pg_stat_replication "
                                 "WHERE state = 'streaming'").fetchone()["n"] > 0
        want = "*" if streaming and self.layout.topology.postgres.synchronous else ""
        have = conn.execute("SHOW synchronous_standby_names").fetchone()[
            "synchronous_standby_names"]
        if have != want:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{want}'")
            conn.execute("SELECT pg_reload_conf()")
            self.say("postgres", f"{self.node}: synchronous replication "
                                 f"{'on' if want else 'off (standby gone)'}")

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
        if not self.may_take_over(term, self.synced_epoch == term.epoch,
                                  f"it never streamed from {term.active} in epoch "
                                  f"{term.epoch}; waiting for it"):
            return
        new = witness.claim(self.layout.rundir, TIER, self.node, term.epoch)
        if new is None:
            return
        conn.execute("SELECT pg_promote(true, 30)")
        # the new timeline reaches pg_control only at a checkpoint; pg_rewind reads it there
        conn.execute("CHECKPOINT")
        self.promoted("PostgreSQL primary", new.epoch)

    def peer_answers(self) -> bool:
        try:
            with connect(self.layout, self.peer, database="postgres", timeout=1):
                return True
        except psycopg.Error:
            return False


def main() -> None:
    layout, node = node_program_args(__doc__)
    PgWatcher(layout, node).run()


if __name__ == "__main__":
    main()
