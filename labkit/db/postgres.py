"""Client side of the PostgreSQL tier: the primary through libpq's multi-host rule, and status.

The stable endpoint is one libpq connection string naming both nodes with
`target_session_attrs=read-write`: libpq tries each and keeps the one that accepts writes, so
clients follow a promotion without knowing about it.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import psycopg
from psycopg.rows import dict_row

from labkit.db import witness
from labkit.errors import LabError
from labkit.layout import Layout

TIER = "postgres"
DATABASE = "labkit"


def nodes(layout: Layout) -> list[str]:
    return [n.name for n in layout.topology.with_role("postgres")]


def bin_dir() -> str:
    """The newest installed server's bin directory (15 on Debian 12, 14 on Ubuntu 22.04)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise LabError("PostgreSQL is not installed", "run `make lab` (installs postgresql) or "
                       "`sudo apt-get install postgresql`")
    return os.path.dirname(found[-1])


#: A peer cut off by a partition sends no RST: without these, a query sent to it waits for TCP's
#: own retransmission timeout (about 15 minutes). tcp_user_timeout drops a connection whose sent
#: data stays unacknowledged for 10 s; keepalives find a silent idle one in 5 + 3 × 2 s. A commit
#: waiting for a synchronous standby is not affected: the server's kernel acknowledged it.
UNREACHABLE = {"tcp_user_timeout": "10000", "keepalives": "1", "keepalives_idle": "5",
               "keepalives_interval": "2", "keepalives_count": "3"}


def dsn(layout: Layout, hosts: list[str], database: str = DATABASE, **extra: str) -> str:
    params = {**UNREACHABLE, "host": ",".join(layout.address(n) for n in hosts),
              "port": ",".join(str(layout.ports.postgres) for _ in hosts),
              "user": "postgres", "password": layout.secrets["postgres"], "dbname": database,
              "connect_timeout": "2", **extra}
    return " ".join(f"{k}={v}" for k, v in params.items())


def connect_primary(layout: Layout, autocommit: bool = True) -> psycopg.Connection:
    """A connection to whichever instance accepts writes right now."""
    try:
        term = witness.read(layout.rundir, TIER)
    except witness.WitnessCorrupt:
        term = None  # libpq still finds the writable one; the witness only orders the tries
    order = nodes(layout)
    if term and term.active in order:
        order = [term.active] + [n for n in order if n != term.active]
    try:
        return psycopg.connect(dsn(layout, order, target_session_attrs="read-write"),
                               autocommit=autocommit, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        raise LabError(f"no writable PostgreSQL right now: {str(exc).strip()[:200]}",
                       "retry in a few seconds (failover in progress?); see `labkit status`"
                       ) from None


def connect(layout: Layout, node: str, database: str = DATABASE,
            timeout: float = 2.0) -> psycopg.Connection:
    return psycopg.connect(dsn(layout, [node], database, connect_timeout=str(max(1, int(timeout)))),
                           autocommit=True, row_factory=dict_row)


def instance_state(layout: Layout, node: str) -> dict[str, Any]:
    try:
        conn = connect(layout, node, database="postgres", timeout=1)
    except psycopg.Error:
        return {"role": "down"}
    try:
        return _query_state(layout, conn)
    except psycopg.Error as exc:  # answered, then went away mid-query
        return {"role": "down", "error": str(exc)[:120]}


def _query_state(layout: Layout, conn: psycopg.Connection) -> dict[str, Any]:
    with conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery() AS standby, "
            "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
            "ELSE pg_current_wal_lsn() END::text AS lsn, "
            "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) AS replay_age").fetchone()
        state: dict[str, Any] = {"role": "standby" if row["standby"] else "active",
                                 "lsn": row["lsn"]}
        if row["standby"]:
            rec = conn.execute("SELECT status, sender_host FROM pg_stat_wal_receiver").fetchone()
            state["streaming"] = bool(rec and rec["status"] == "streaming")
            if rec:
                state["replicating_from"] = layout.node_of(rec["sender_host"])
        else:
            reps = conn.execute(
                "SELECT client_addr::text, state, sync_state, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) AS lag_bytes, "
                "EXTRACT(EPOCH FROM replay_lag) AS lag FROM pg_stat_replication").fetchall()
            state["replicas"] = [{"state": r["state"], "sync": r["sync_state"],
                                  "lag_bytes": int(r["lag_bytes"] or 0),
                                  "lag": float(r["lag"] or 0.0)} for r in reps]
            state["sync_standby_names"] = conn.execute(
                "SHOW synchronous_standby_names").fetchone()["synchronous_standby_names"]
    return state


def tier_status(layout: Layout) -> dict[str, Any]:
    instances = {n: instance_state(layout, n) for n in nodes(layout)}
    active = [n for n, s in instances.items() if s["role"] == "active"]
    standby = [n for n, s in instances.items() if s["role"] == "standby"]
    lag = None
    for s in instances.values():
        for r in s.get("replicas", []):
            lag = max(lag or 0.0, r["lag"])
    out: dict[str, Any] = {"active": active[0] if len(active) == 1 else (active or None),
                           "standby": standby[0] if len(standby) == 1 else (standby or None),
                           "lag": lag, "instances": instances,
                           "replication": ("synchronous" if layout.topology.postgres.synchronous
                                           else "async (unsafe by topology)")}
    try:
        term = witness.read(layout.rundir, TIER)
    except witness.WitnessCorrupt as exc:
        return {**out, "epoch": None, "alone": None, "problem": str(exc)}
    # the primary commits without a synchronous standby (the standby may not take over)
    out.update(epoch=term.epoch if term else 0, alone=bool(term and term.alone))
    if not active:
        out["problem"] = "no PostgreSQL primary: both down, or a promotion is running"
        if term and term.alone:
            out["problem"] = (f"no PostgreSQL primary: both down, or {term.active} (which "
                              "committed alone) is down and its standby, lacking those commits, "
                              "waits for it")
    return out
