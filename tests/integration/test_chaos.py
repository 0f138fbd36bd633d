"""A short aimed chaos run against a small safe lab: the verdicts, not a range.

Every element added to either database pair gets a verdict; none may be lost, duplicated or
unexpected; every acknowledged element is present; every tier's availability is counted per
1-second window over the whole run; the history and the timeline are written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from labkit import Cluster
from labkit.chaos import run_chaos
from labkit.chaos.checker import VERDICTS
from labkit.topology import DevicesSpec, NodeSpec, Topology

from .conftest import running_lab

pytestmark = pytest.mark.lab

DB = ("lb", "app", "mysql", "postgres")
SMALL = Topology(nodes=(NodeSpec("node1", DB, 100), NodeSpec("node2", DB, 90),
                        NodeSpec("node3", ("app",))),
                 name="chaos-run", devices=DevicesSpec(count=5))


@pytest.fixture(scope="module")
def small_lab() -> Iterator[Cluster]:
    with running_lab("pytest-chaos", topology=SMALL) as lab:
        yield lab


def test_short_chaos_run_loses_nothing(small_lab: Cluster):
    report = run_chaos(small_lab, duration=40, seed=7, rate=5)
    print(report.table())
    assert report.plan, "the run injected faults"
    assert any(r.started is not None for r in report.faults)
    for r in report.faults:  # a role target resolved to a node, or a reason it was not
        assert (r.node is not None) != (r.skipped is not None), r
    for tier in ("mysql", "postgres"):
        res = report.sets[tier]
        assert res.final_read
        assert res.lost == [] and res.counts["duplicated"] == 0 \
            and res.counts["unexpected"] == 0, report.summary()
        assert set(res.verdicts.values()) <= set(VERDICTS)
        acked = {op["value"] for op in _adds(report, tier) if op["type"] == "ok"}
        assert acked and all(res.verdicts[e] == "ok" for e in acked)
    assert set(report.windows) >= {"mysql", "postgres", "requests", "sessions", "device-polls"}
    for av in report.windows.values():
        assert len(av.windows) == math.ceil(report.elapsed) >= report.duration
        assert all(0.0 <= w <= 1.0 for w in av.windows)
        assert av.available_windows > 0
    assert report.problems == [], report.summary()
    assert all(n["state"] == "up" for n in small_lab.status()["nodes"])


def _adds(report, tier: str) -> list[dict]:
    rows = [json.loads(line) for line in report.history_path.read_text().splitlines()]
    return [r for r in rows if r["tier"] == tier and r["f"] == "add" and r["type"] != "invoke"]
