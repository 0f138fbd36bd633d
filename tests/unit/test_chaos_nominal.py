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

    def __init__(self, recovery: float, crash: float = 0.0) -> None:
        self.recovery, self.crash, self.calls = recovery, crash, []
        self.backend = SimpleNamespace(node_state=lambda node: "up", services=lambda node: [])
        self.layout = SimpleNamespace(topology=SimpleNamespace(with_role=lambda role: []))

    def fail(self, target: str, mode: str) -> None:
        self.calls.append(("fail", target))
        time.sleep(self.crash)  # a crash returns once every process is gone

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


def test_without_skip_late_a_late_plan_makes_every_fault_and_runs_longer():
    plan = [Fault(0.1, 0.2, "node1", "crash"), Fault(0.6, 0.2, "node2", "crash"),
            Fault(1.1, 0.2, "node3", "crash")]
    report = ChaosReport(seed=1, duration=1.6, plan=plan)
    report.faults = [FaultRecord(f) for f in plan]
    lab = SlowLab(recovery=1.0)
    Nemesis(lab, History(), report, lambda _m: None, heal=0.2, skip_late=False).run()
    assert all(r.skipped is None for r in report.faults)
    assert ("fail", "node3") in lab.calls


class Pair:
    """A database handle whose pair becomes whole after `broken` looks."""

    def __init__(self, broken: int) -> None:
        self.broken, self.looks = broken, 0

    def active(self) -> str:
        return "node1"

    def standby(self) -> str:
        return "node2"

    def not_whole(self) -> str | None:
        self.looks += 1
        return "node2 is not replicating from node1 yet" if self.looks <= self.broken else None


def _step_run(pair: Pair, crash: float = 0.0,
              pair_wait: float = 2.0) -> tuple[ChaosReport, SlowLab]:
    group = "failover-under-fault mysql"
    plan = [Fault(0.2, 0.6, "mysql-standby", "crash", group),
            Fault(0.5, 0.4, "mysql-active", "crash", group)]
    report = ChaosReport(seed=1, duration=1.6, plan=plan)
    report.faults = [FaultRecord(f) for f in plan]
    lab = SlowLab(0.0, crash)
    lab.mysql = pair
    nemesis = Nemesis(lab, History(), report, lambda _m: None, heal=0.2)
    nemesis.PAIR_WAIT = pair_wait
    nemesis.run()
    return report, lab


def test_a_step_that_breaks_a_pair_waits_until_the_pair_is_whole_and_says_so():
    report, lab = _step_run(Pair(broken=2))
    assert [r.node for r in report.faults] == ["node2", "node1"]
    assert any("waiting for the mysql pair" in text and "not replicating" in text
               for _, text in report.timeline)
    assert any("the mysql pair is whole after" in text for _, text in report.timeline)


def test_a_step_on_a_pair_that_stays_broken_is_skipped_whole():
    report, lab = _step_run(Pair(broken=10**6), pair_wait=0.6)
    assert "not whole after" in report.faults[0].skipped
    assert "its step's first fault" in report.faults[1].skipped
    assert not [c for c in lab.calls if c[0] == "fail"]


def test_a_step_that_started_is_finished_even_when_the_run_falls_behind():
    # the standby's crash takes 1 s: the active's crash, due 0.3 s later, is late
    report, lab = _step_run(Pair(broken=0), crash=1.0)
    assert all(r.skipped is None for r in report.faults), report.timeline
    assert [c[1] for c in lab.calls if c[0] == "fail"] == ["node2", "node1"]
