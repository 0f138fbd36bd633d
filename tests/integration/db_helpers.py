"""Shared waits and checks of the database tests (real servers, polled until true)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pymysql

from labkit.errors import LabError
from labkit.topology import DevicesSpec, NodeSpec, Topology


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (pymysql.MySQLError, psycopg.Error, LabError, httpx.TransportError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout:.0f}s (last: {last!r})")


def pair(lab) -> tuple[str, str]:
    """(active, standby) once the pair is whole and the standby replicates."""
    def whole():
        st = lab.mysql.status()
        standby = st["instances"].get(st["standby"]) if isinstance(st["standby"], str) else None
        if isinstance(st["active"], str) and standby and standby.get("sql_running") == "Yes":
            return st["active"], st["standby"]
        return None
    return wait_until(whole, 90, "an active MySQL with a replicating standby")


def rows(conn, client: str) -> set[int]:
    with conn.cursor() as cur:
        cur.execute("SELECT seq FROM writes WHERE client = %s", (client,))
        return {r["seq"] for r in cur.fetchall()}


def converged(lab, old: str, new: str, client: str, acked: list[int]) -> bool:
    """The old active is a read-only standby of the new one, with the same GTID set and rows."""
    st = lab.mysql.status()["instances"]
    if st[old].get("role") != "standby" or st[old].get("sql_running") != "Yes":
        return False
    if st[old]["gtid"] != st[new]["gtid"]:
        return False
    conn = lab.mysql.connect_to(old)
    try:
        return set(acked) <= rows(conn, client)
    finally:
        conn.close()


def pg_pair(lab) -> tuple[str, str]:
    """(primary, standby) once the standby streams from the primary and has caught up (the
    primary no longer commits alone, so the standby may take over)."""
    def whole():
        st = lab.postgres.status()
        standby = st["instances"].get(st["standby"]) if isinstance(st["standby"], str) else None
        if isinstance(st["active"], str) and standby and standby.get("streaming") \
                and not st["alone"]:
            return st["active"], st["standby"]
        return None
    return wait_until(whole, 120, "a PostgreSQL primary with a caught-up streaming standby")


def seqs_on(lab, node: str, client: str) -> set[int]:
    with lab.postgres.connect_to(node) as conn:
        rows = conn.execute("SELECT seq FROM writes WHERE client = %s", (client,)).fetchall()
    return {r["seq"] for r in rows}


def fail_active_mid_write_load(lab, mode: str) -> tuple[str, str, Any]:
    """Fault the MySQL active while rows stream in; check the standby took over and holds
    every acknowledged row. Returns (old active, new active, the stopped load)."""
    old, new = pair(lab)
    load = lab.mysql.write_load(rate=30)
    wait_until(lambda: len(load.acked) >= 30, 30, "30 acknowledged rows before the fault")
    since = time.time()
    lab.fail(old, mode)
    wait_until(lambda: lab.mysql.active() == new, 60, f"{new} promoted")
    acked_before = len(load.acked)
    wait_until(lambda: len(load.acked) >= acked_before + 20, 30, "writes resuming on " + new)
    load.stop()
    conn = lab.mysql.connect()
    try:
        assert load.missing(conn) == []
    finally:
        conn.close()
    failover = [e for e in lab.events(since) if e["kind"] == "mysql_failover"]
    assert failover and failover[0]["node"] == new
    assert failover[0]["promoted"] >= failover[0]["failure_seen"]
    return old, new, load


def lone_pair_topology(role: str) -> Topology:
    """A database pair on nodes that carry nothing else, behind one LB/app node: crashing the
    pair's nodes leaves the VIP alone, and the lab starts without Cassandra or devices."""
    return Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", (role,)),
                           NodeSpec("node3", (role,))), devices=DevicesSpec(count=0))
