"""Slow recoveries shift a chaos plan (issue 18: a 300 s run took 617 s). The nemesis skips a
fault that would now end after the run's duration and says why, so a run stays near its
nominal length; a plan on time fires as written."""

from __future__ import annotations

import time
from types import SimpleNamespace

from labkit.chaos.history import History
from labkit.chaos.plan import Fault
from labkit.chaos.runner import ChaosReport, FaultRecord, Nemesis


class SlowLab:
    """Faults land at once; each recovery takes `recovery` seconds (a node's servers start)."""

    def __init__(self, recovery: float) -> None:
        self.recovery, self.calls = recovery, []
        self.backend = SimpleNamespace(node_state=lambda node: "up", services=lambda node: [])
        self.layout = SimpleNamespace(topology=SimpleNamespace(with_role=lambda role: []))

    def fail(self, target: str, mode: str) -> None:
        self.calls.append(("fail", target))

    def recover(self, node: str) -> None:
        self.calls.append(("recover", node))
        time.sleep(self.recovery)


def _run(recovery: float) -> tuple[ChaosReport, SlowLab]:
    plan = [Fault(0.1, 0.2, "node1", "crash"), Fault(0.6, 0.2, "node2", "crash"),
            Fault(1.1, 0.2, "node3", "crash")]
    report = ChaosReport(seed=1, duration=1.6, plan=plan)
    report.faults = [FaultRecord(f) for f in plan]
    lab = SlowLab(recovery)
    history = History()
    Nemesis(lab, history, report, lambda _m: None, heal=0.2).run()
    return report, lab


def test_a_late_plan_skips_what_would_end_after_the_run_and_says_why(monkeypatch):
    from labkit.chaos import runner

    waits: list[float] = []
    sleep = runner._sleep_until
    monkeypatch.setattr(runner, "_sleep_until", lambda t: (waits.append(t), sleep(t)))
    report, lab = _run(recovery=1.0)
    # the skipped fault's recovery time is not waited for (a 300 s run ran 504 s that way)
    assert len(waits) == 4  # fire and recover node1, fire and recover node2
    assert [r.skipped is None for r in report.faults] == [True, True, False]
    assert "behind its plan" in report.faults[2].skipped
    assert ("fail", "node3") not in lab.calls
    assert any("skipped crash node3" in text for _, text in report.timeline)


def test_a_plan_on_time_fires_every_fault():
    report, lab = _run(recovery=0.0)
    assert all(r.skipped is None for r in report.faults)
    assert [c for c in lab.calls if c[0] == "fail"] == [("fail", "node1"), ("fail", "node2"),
                                                         ("fail", "node3")]
