"""The checker can fail: the same aimed plan loses acknowledged writes on a lab made unsafe by
its topology (MySQL without semi-sync, PostgreSQL asynchronous) and none on a safe one.

The plan is "failover-under-fault": take a pair's standby out (crash MariaDB's, freeze
PostgreSQL's: the ways that make each miss commits), let the active go on taking writes, crash
the active, bring the standby back while the active is still down. An asynchronous standby has
streamed in this epoch, so it may promote, and the writes the active acknowledged while the
standby was frozen are gone. A safe pair knows better: MySQL's active recorded that it went on
alone, PostgreSQL's commits waited for the frozen standby, so nothing acknowledged is missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.chaos import run_chaos
from labkit.chaos.checker import VERDICTS
from labkit.topology import DevicesSpec, MysqlSpec, NodeSpec, PostgresSpec, Topology

from .conftest import running_lab

pytestmark = pytest.mark.lab

DB = ("lb", "app", "mysql", "postgres")


def small(safe: bool) -> Topology:
    """node1/node2 carry the VIP and both pairs, node3 one more app server; no devices."""
    return Topology(nodes=(NodeSpec("node1", DB, 100), NodeSpec("node2", DB, 90),
                           NodeSpec("node3", ("app",))),
                    name="chaos-safe" if safe else "chaos-unsafe",
                    devices=DevicesSpec(count=0),
                    mysql=MysqlSpec(semi_sync=safe), postgres=PostgresSpec(synchronous=safe))


@pytest.fixture(scope="module", params=[False, True], ids=["unsafe", "safe"])
def lab_of(request: pytest.FixtureRequest) -> Iterator[tuple[bool, Cluster]]:
    safe = request.param
    with running_lab("chaos-safe" if safe else "chaos-unsafe", topology=small(safe)) as lab:
        yield safe, lab


def test_the_status_says_when_a_pair_is_unsafe_by_topology(lab_of):
    safe, lab = lab_of
    st = lab.status()
    want = ("semi-sync", "synchronous") if safe else ("async (unsafe by topology)",) * 2
    assert (st["mysql"]["replication"], st["postgres"]["replication"]) == want


def test_failover_under_fault_loses_writes_only_when_unsafe(lab_of):
    safe, lab = lab_of
    since = time.time()
    report = run_chaos(lab, duration=90, seed=1, rate=8, plan="failover-under-fault", heal=12)
    print(report.table())
    print(report.summary())
    for ev in lab.events(since):  # shown when the test fails: what the pairs did
        print(f"{ev['ts'] - since:6.1f} {ev.get('kind')}: {str(ev.get('message'))[:140]}")
    made = [r for r in report.faults if r.started is not None]
    assert {(r.fault.target, r.fault.mode) for r in made} >= {
        ("mysql-standby", "crash"), ("mysql-active", "crash"),
        ("postgres-standby", "freeze"), ("postgres-primary", "crash")}, report.timeline
    for tier in ("mysql", "postgres"):
        res = report.sets[tier]
        assert res.final_read, f"{tier}: no final read"
        assert set(res.verdicts.values()) <= set(VERDICTS)
        assert res.counts["ok"] > 50, res.counts
    if safe:
        assert report.lost == {"mysql": 0, "postgres": 0}, report.summary()
        assert report.passed, report.summary()
    else:
        assert report.lost["mysql"] > 0, report.summary()
        assert report.lost["postgres"] > 0, report.summary()
        assert not report.passed
        assert any("lost" in p for p in report.problems)
    assert report.history_path and report.history_path.exists()
    assert report.timeline_path and report.timeline_path.exists()
