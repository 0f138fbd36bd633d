"""Client side of the MySQL tier: reach the active, read each instance's replication state.

The stable endpoint is a rule, not an address: ask the witness which instance is active, connect
to it, and check it really is writable (`read_only = 0`); if not, try the other. A client that
finds no writable instance is in the middle of a failover and gets a retryable error.
"""

from __future__ import annotations

from typing import Any

import pymysql
import pymysql.cursors

from labkit.db import witness
from labkit.errors import LabError
from labkit.layout import Layout

TIER = "mysql"


class FailoverInProgress(LabError):
    """No writable MySQL right now: the standby is being promoted. Retry in a moment."""


def nodes(layout: Layout) -> list[str]:
    return [n.name for n in layout.topology.with_role("mysql")]


def connect(layout: Layout, node: str, user: str = "labkit", database: str | None = "labkit",
            timeout: float = 2.0, read_timeout: float | None = None
            ) -> pymysql.connections.Connection:
    """read_timeout bounds every answer, the server's greeting included: a frozen server accepts
    the TCP connection (the kernel does) but never greets."""
    password = layout.secrets["mysql_app" if user == "labkit" else "mysql_root"]
    read_timeout = read_timeout or max(timeout, 10)
    return pymysql.connect(host=layout.address(node), port=layout.ports.mysql, user=user,
                           password=password, database=database, connect_timeout=timeout,
                           read_timeout=read_timeout, write_timeout=read_timeout,
                           autocommit=True, cursorclass=pymysql.cursors.DictCursor)


def connect_active(layout: Layout, timeout: float = 2.0, **kwargs: Any
                   ) -> pymysql.connections.Connection:
    """A connection to the writable instance, found as the module docstring says."""
    try:
        term = witness.read(layout.rundir, TIER)
    except witness.WitnessCorrupt:
        term = None  # read_only still tells the writable one; the witness only orders the tries
    order = nodes(layout)
    if term and term.active in order:
        order = [term.active] + [n for n in order if n != term.active]
    for node in order:
        try:
            conn = connect(layout, node, timeout=timeout, **kwargs)
        except pymysql.MySQLError:
            continue
        with conn.cursor() as cur:
            cur.execute("SELECT @@read_only AS ro")
            if not cur.fetchone()["ro"]:
                return conn
        conn.close()
    raise FailoverInProgress("no writable MySQL instance right now (failover in progress?)",
                             "retry in a few seconds; `labkit status` shows the MySQL tier")


def instance_state(layout: Layout, node: str, timeout: float = 0.5) -> dict[str, Any]:
    """role, GTID position, lag and semi-sync state of one instance ("down" if unreachable)."""
    try:
        conn = connect(layout, node, user="root", database=None, timeout=timeout,
                       read_timeout=1.0)
    except pymysql.MySQLError:
        return {"role": "down"}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@read_only AS ro, @@gtid_current_pos AS gtid, "
                        "@@rpl_semi_sync_master_wait_point AS wait_point")
            row = cur.fetchone()
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone()
            cur.execute("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
            semi = cur.fetchone()
    except pymysql.MySQLError as exc:  # answered the handshake, then hung or went away
        return {"role": "down", "error": str(exc)[:120]}
    finally:
        conn.close()
    state: dict[str, Any] = {"role": "standby" if row["ro"] else "active", "gtid": row["gtid"]}
    if replica:
        state["replicating_from"] = layout.node_of(replica["Master_Host"])
        state["io_running"] = replica["Slave_IO_Running"]
        state["sql_running"] = replica["Slave_SQL_Running"]
        state["lag"] = replica["Seconds_Behind_Master"]
        if replica["Last_Error"] or replica["Last_IO_Error"]:
            state["error"] = replica["Last_Error"] or replica["Last_IO_Error"]
    if semi:
        state["semi_sync"] = semi["Value"] == "ON"
        # AFTER_SYNC: a commit becomes visible only once the standby has it; AFTER_COMMIT
        # (MariaDB's default) lets other clients read a commit the standby may never get
        state["wait_point"] = row["wait_point"]
    return state


def tier_status(layout: Layout) -> dict[str, Any]:
    instances = {n: instance_state(layout, n) for n in nodes(layout)}
    active = [n for n, s in instances.items() if s["role"] == "active"]
    standby = [n for n, s in instances.items() if s["role"] == "standby"]
    lags = [s.get("lag") for s in instances.values() if s.get("lag") is not None]
    try:
        term = witness.read(layout.rundir, TIER)
    except witness.WitnessCorrupt as exc:
        return {"active": active[0] if len(active) == 1 else (active or None),
                "standby": standby[0] if len(standby) == 1 else (standby or None),
                "lag": max(lags) if lags else None, "epoch": None, "instances": instances,
                "alone": None, "problem": str(exc)}
    out: dict[str, Any] = {
        "active": active[0] if len(active) == 1 else (active or None),
        "standby": standby[0] if len(standby) == 1 else (standby or None),
        "lag": max(lags) if lags else None,
        "epoch": term.epoch if term else 0, "instances": instances,
        # the active commits without a synchronous standby (the standby may not take over)
        "alone": bool(term and term.alone),
        "replication": ("semi-sync" if layout.topology.mysql.semi_sync
                        else "async (unsafe by topology)"),
    }
    if not active:
        out["problem"] = ("no MySQL instance is active: both down, or a failover is running"
                          if not standby else "standby waiting for the active to return")
    return out
