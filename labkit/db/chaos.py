"""Chaos workloads of the data tier: each database pair is a set under test.

Per pair, two clients add notes/events through the VIP (the NBI: `POST /api/notes`,
`POST /api/monitoring/events`), one adds straight to the primary, and one reader reads the set
through the VIP and from each instance directly (a hot standby answers reads), all while the
faults run. The set-full checker (`labkit.chaos.checker`) then judges every element against
the final read on the primary.

What counts as "certainly not done" is narrow on purpose: no writable instance found before the
statement was sent, or a server that answered "read-only" (MySQL 1290/1836, PostgreSQL 25006).
A connection lost after the statement left is unknown (info): the commit may have happened.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg
import pymysql

from labkit.chaos.history import Unknown
from labkit.chaos.workload import Served, SetAdds, SetReads, SetTier, Workload, raise_for_http
from labkit.cluster import Cluster
from labkit.db import mysql, postgres

READ_ONLY_MYSQL = {1290, 1836}  # the server refused the write: certainly not done
READ_ONLY_PG = "25006"  # read_only_sql_transaction


class MysqlNotes(SetTier):
    """Notes in the MySQL pair (`notes.text` is the element)."""

    tier = "mysql"

    def add_vip(self, element: str) -> str | None:
        # the element is unique: as the idempotency key it makes any retry write it at most once
        r = self.http.post("/api/notes", json={"text": element},
                           headers={"Idempotency-Key": element[:64]})
        raise_for_http(r)
        return r.json().get("mysql")

    def add_direct(self, element: str) -> str | None:
        conn = mysql.connect_active(self.lab.layout, timeout=1.0, read_timeout=3.0)  # fail
        try:
            with conn.cursor() as cur:
                cur.execute("INSERT INTO notes (text, written_by, created) VALUES (%s, %s, %s)",
                            (element, "chaos-direct", time.time()))
        except pymysql.MySQLError as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            if code in READ_ONLY_MYSQL:
                raise
            raise Unknown(f"MySQL {exc.args[-1]}") from None
        finally:
            node = self.lab.layout.node_of(conn.host)
            with contextlib.suppress(Exception):
                conn.close()
        return node

    def replicas(self) -> list[str]:
        return mysql.nodes(self.lab.layout)

    def read(self, node: str | None) -> list[str]:
        if node is None:
            r = self.http.get("/api/notes", params={"prefix": self.prefix, "limit": 100_000})
            r.raise_for_status()
            return [row["text"] for row in r.json()["notes"]]
        conn = mysql.connect(self.lab.layout, node, timeout=1.0, read_timeout=3.0)
        try:
            return self._select(conn)
        finally:
            conn.close()

    def _select(self, conn: Any) -> list[str]:
        with conn.cursor() as cur:
            cur.execute("SELECT text FROM notes WHERE LEFT(text, CHAR_LENGTH(%s)) = %s",
                        (self.prefix, self.prefix))
            return [row["text"] for row in cur.fetchall()]

    def read_primary(self) -> Served:
        conn = mysql.connect_active(self.lab.layout, timeout=1.0, read_timeout=5.0)
        try:
            return self._select(conn), self.lab.layout.node_of(conn.host)
        finally:
            conn.close()

    def settled(self) -> bool:
        st = mysql.tier_status(self.lab.layout)
        return isinstance(st["active"], str) and isinstance(st["standby"], str)

    def clean(self) -> None:
        with contextlib.suppress(Exception), \
                mysql.connect_active(self.lab.layout, timeout=1.0) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM notes WHERE LEFT(text, CHAR_LENGTH(%s)) = %s",
                        (self.prefix, self.prefix))


class PostgresEvents(SetTier):
    """Events in the PostgreSQL pair (`events.detail` is the element)."""

    tier = "postgres"

    def add_vip(self, element: str) -> str | None:
        r = self.http.post("/api/monitoring/events", json={"kind": "chaos", "detail": element})
        raise_for_http(r)
        return r.json().get("postgres")

    def add_direct(self, element: str) -> str | None:
        conn = postgres.connect_primary(self.lab.layout)  # LabError: no primary, not done
        try:
            conn.execute("INSERT INTO events (ts, node, kind, detail) VALUES "
                         "(%s, 'chaos-direct', 'chaos', %s)", (time.time(), element))
        except psycopg.Error as exc:
            if exc.sqlstate == READ_ONLY_PG:
                raise
            raise Unknown(f"PostgreSQL {str(exc).strip()[:100]}") from None
        finally:
            node = self.lab.layout.node_of(conn.info.host)  # while it is open
            with contextlib.suppress(Exception):
                conn.close()
        return node

    def replicas(self) -> list[str]:
        return postgres.nodes(self.lab.layout)

    def read(self, node: str | None) -> list[str]:
        if node is None:
            r = self.http.get("/api/monitoring/events",
                              params={"prefix": self.prefix, "limit": 100_000})
            r.raise_for_status()
            return [row["detail"] for row in r.json()["events"]]
        with postgres.connect(self.lab.layout, node, timeout=1) as conn:
            return self._select(conn)

    def _select(self, conn: psycopg.Connection) -> list[str]:
        rows = conn.execute("SELECT detail FROM events WHERE left(detail, length(%s)) = %s",
                            (self.prefix, self.prefix)).fetchall()
        return [row["detail"] for row in rows]

    def read_primary(self) -> Served:
        with postgres.connect_primary(self.lab.layout) as conn:
            return self._select(conn), self.lab.layout.node_of(conn.info.host)

    def settled(self) -> bool:
        st = postgres.tier_status(self.lab.layout)
        return isinstance(st["active"], str) and isinstance(st["standby"], str)

    def clean(self) -> None:
        with contextlib.suppress(Exception), postgres.connect_primary(self.lab.layout) as conn:
            conn.execute("DELETE FROM events WHERE left(detail, length(%s)) = %s",
                         (self.prefix, self.prefix))


def set_workloads(lab: Cluster, target: SetTier, vip_clients: int = 2) -> list[Workload]:
    """Several concurrent clients on one set: VIP writers, a direct writer and a reader."""
    t = target.tier
    loads: list[Workload] = [SetAdds(lab, target, f"{t}-v{i}", "vip")
                             for i in range(1, vip_clients + 1)]
    loads.append(SetAdds(lab, target, f"{t}-d1", "direct"))
    loads.append(SetReads(lab, target, f"{t}-r1"))
    return loads


def workloads(lab: Cluster) -> list[Workload]:
    prefix = f"chaos-{int(time.time() * 1000):x}"
    loads: list[Workload] = []
    if lab.layout.topology.with_role("mysql"):
        loads += set_workloads(lab, MysqlNotes(lab, f"{prefix}-m"))
    if lab.layout.topology.with_role("postgres"):
        loads += set_workloads(lab, PostgresEvents(lab, f"{prefix}-p"))
    return loads

