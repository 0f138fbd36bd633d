"""Jepsen-style sequences that could lose an acknowledged MySQL write (issue 18, loss path 2).

Semi-sync acknowledges a commit once the standby has *received* it into its relay log, not once
it has applied it. A standby that promotes while its applier is stopped and then runs
`RESET SLAVE ALL` throws those acknowledged transactions away; the re-seed of the returning old
active then throws away the only other copy.
"""

from __future__ import annotations

import uuid

import pytest

from labkit.db import mysql
from tests.integration.conftest import running_lab
from tests.integration.db_helpers import lone_pair_topology, pair, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(labkit_home):
    """A small lab of its own: the MySQL pair on nodes that carry nothing else."""
    with running_lab("pytest-mysqlloss", lambda _c: None,
                     topology=lone_pair_topology("mysql")) as cluster:
        yield cluster


def _standby_root(lab, node: str):
    """root on one instance: it may write on a read-only standby (as a DBA repairing it)."""
    return mysql.connect(lab.layout, node, user="root")


def test_a_standby_whose_applier_stopped_refuses_to_promote_and_loses_nothing(lab):
    active, standby = pair(lab)
    client = f"applier-{uuid.uuid4().hex[:8]}"
    # Break the standby's applier the way a conflicting row does: a row the active will insert
    # later, written on the standby alone (sql_log_bin=0: no GTID of its own, no divergence).
    with _standby_root(lab, standby) as conn, conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("INSERT INTO writes (client, seq, created) VALUES (%s, 5, 0)", (client,))
    load = lab.mysql.write_load(rate=20, client=client)
    wait_until(lambda: len(load.acked) >= 30, 30, "30 acknowledged rows (received by the standby)")
    load.stop()
    wait_until(lambda: lab.mysql.status()["instances"][standby].get("sql_running") == "No", 30,
               "the standby's applier stopped on the duplicate row")
    acked = list(load.acked)
    since = lab.events()[-1]["ts"]

    lab.fail(active, "crash")
    try:
        refusal = wait_until(
            lambda: [e for e in lab.events(since)
                     if e["kind"] in ("mysql_wait", "mysql_failover") and e["node"] == standby],
            180, f"{standby} deciding whether to take over")
        assert refusal[0]["kind"] == "mysql_wait", refusal[0]["message"]
        assert "will not take over" in refusal[0]["message"]
        assert "applier stopped" in refusal[0]["message"]
        assert lab.mysql.active() is None  # no promotion: availability is what it costs
    finally:
        lab.recover(active)
        # repair the applier as a DBA would: remove the conflicting row, start replicating
        with _standby_root(lab, standby) as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute("DELETE FROM writes WHERE client = %s AND seq = 5", (client,))
            cur.execute("START SLAVE")

    assert pair(lab) == (active, standby)
    with lab.mysql.connect() as conn:
        assert load.missing(conn) == []
    for node in (active, standby):  # once repaired, the standby has every acknowledged row too
        def has_all(node: str = node) -> bool:
            with lab.mysql.connect_to(node) as conn, conn.cursor() as cur:
                cur.execute("SELECT seq FROM writes WHERE client = %s", (client,))
                return set(acked) <= {r["seq"] for r in cur.fetchall()}
        wait_until(has_all, 60, f"every acknowledged row on {node}")
