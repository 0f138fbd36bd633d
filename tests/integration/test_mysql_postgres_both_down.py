"""Both nodes of a database pair down, then back one at a time: said plainly, nothing lost.

This runs on a small lab of its own whose database nodes carry nothing else, so crashing both of
them leaves the shared lab's load balancer alone.
"""

from __future__ import annotations

import pytest

from labkit.db import mysql
from labkit.topology import NodeSpec, Topology
from tests.integration.conftest import running_lab
from tests.integration.db_helpers import converged, pair, pg_pair, seqs_on, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def pair_lab(labkit_home):
    topology = Topology(nodes=(NodeSpec("node1", ("lb", "app")),
                               NodeSpec("node2", ("mysql", "postgres")),
                               NodeSpec("node3", ("mysql", "postgres"))))
    with running_lab("pytest-pairs", lambda _c: None, topology=topology) as cluster:
        yield cluster


def crash_old_then_new(lab, tier, old: str, new: str):
    """Writes go on through `old`'s crash and land on `new` alone; then `new` crashes too."""
    load = tier.write_load(rate=20)
    wait_until(lambda: len(load.acked) >= 10, 30, "rows before the first fault")
    lab.fail(old, "crash")
    wait_until(lambda: tier.active() == new, 60, f"{new} promoted")
    count = len(load.acked)
    wait_until(lambda: len(load.acked) >= count + 20, 30, f"rows written on {new} alone")
    load.stop()
    lab.fail(new, "crash")
    return load


def test_mysql_both_down_is_said_plainly_and_the_newest_returns_first(pair_lab):
    lab = pair_lab
    old, new = pair(lab)
    load = crash_old_then_new(lab, lab.mysql, old, new)
    st = wait_until(lambda: (lambda s: s if s["active"] is None else None)(lab.mysql.status()),
                    30, "no active MySQL")
    assert "both down" in st["problem"]
    with pytest.raises(mysql.FailoverInProgress):
        lab.mysql.connect()

    # the node that was down while `new` took writes must not take over: it lacks them
    since = lab.events()[-1]["ts"]
    lab.recover(old)
    wait_until(lambda: [e for e in lab.events(since)
                        if e["kind"] == "mysql_wait" and e["node"] == old], 60,
               f"{old} saying it waits for {new}")
    st = lab.mysql.status()
    assert st["active"] is None and st["instances"][old]["role"] == "standby"

    lab.recover(new)
    wait_until(lambda: lab.mysql.active() == new, 60, f"{new} active again")
    wait_until(lambda: converged(lab, old, new, load.client, load.acked), 90,
               f"{old} caught up")
    conn = lab.mysql.connect()
    try:
        assert load.missing(conn) == []
    finally:
        conn.close()


def test_postgres_both_down_waits_for_the_newest_primary(pair_lab):
    lab = pair_lab
    old, new = pg_pair(lab)
    load = crash_old_then_new(lab, lab.postgres, old, new)
    st = lab.postgres.status()
    assert st["active"] is None and "both down" in st["problem"]

    lab.recover(old)  # returns: the node waits for `new`, which holds commits it lacks
    st = lab.postgres.status()
    assert st["active"] is None and st["instances"][old]["role"] == "down"

    lab.recover(new)
    wait_until(lambda: lab.postgres.active() == new, 60, f"{new} primary again")
    wait_until(lambda: lab.postgres.status()["instances"][old].get("streaming"), 120,
               f"{old} streaming from {new}")
    wait_until(lambda: set(load.acked) <= seqs_on(lab, old, load.client), 60,
               f"every acknowledged row on {old}")
