"""Lesson 01's failover timeline (issue 15): the steps come from the lab's event log and the
lesson's own probes; a missing step is refused with a sentence, never drawn as if it happened."""

from __future__ import annotations

import pytest

from labkit.ui.lesson import memory_short
from labkit.ui.timeline import LANES, failover_steps, failover_timeline

T0 = 1_000_000.0


def crash_events(vip: bool = True, master: bool = True, crash: bool = True) -> list[dict]:
    """node1 owned the VIP and crashed at T0 (the event is written 0.1 s later, when the kill
    returned); node2's master-down interval expired 1.6 s later and the segment followed it."""
    out = [{"ts": T0 - 5, "kind": "vrrp", "node": "node1", "state": "master",
            "message": "node1 is now MASTER (startup)"}]
    if crash:
        out.append({"ts": T0 + 0.1, "at": T0, "kind": "fault", "node": "node1", "mode": "crash",
                    "message": "node1 crashed"})
    if master:
        out.append({"ts": T0 + 1.6, "kind": "vrrp", "node": "node2", "state": "master",
                    "message": "node2 is now MASTER (master down)"})
    if vip:
        out.append({"ts": T0 + 1.62, "kind": "vip", "owner": "node2", "previous": "node1",
                    "message": "VIP now delivered to node2"})
    return out


#: a probe every 0.1 s from 0.5 s before the crash: no answer from 0.0 to 1.8 s (exclusive)
PROBES = [(T0 + i / 10, not 0 <= i < 18) for i in range(-5, 25)]


def test_the_steps_come_from_the_events_and_the_probes():
    s = failover_steps(crash_events(), PROBES)
    assert (s.node, s.new_owner) == ("node1", "node2")
    assert s.fault == T0 and s.master == T0 + 1.6 and s.vip == T0 + 1.62  # the crash's `at`
    assert s.gap == pytest.approx(1.8)
    assert s.waiting_for_vrrp == pytest.approx(1.6) and s.the_rest == pytest.approx(0.2)


def test_the_figure_draws_each_step_the_probes_and_the_gap():
    fig = failover_timeline(crash_events(), PROBES, master_down=1.82)
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"master-down interval", "events", "answered", "no answer"}
    assert list(traces["events"].x) == [0.0, 1.6, 1.62, 1.8]
    assert "node2 is MASTER" in traces["events"].text[1]
    assert len(traces["no answer"].x) == 18 and len(traces["answered"].x) == 12
    assert set(traces["no answer"].y) == {LANES[2]}
    bar = traces["master-down interval"]  # ends where node2 became master: began before the crash
    assert bar.base[0] == pytest.approx(1.6 - 1.82) and bar.x[0] == 1.82
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(rects) == 1 and (rects[0].x0, rects[0].x1) == (0.0, 1.8)
    assert len(lines) == 4
    assert any("no answer: 1.80 s" in a.text for a in fig.layout.annotations)


def test_without_a_master_down_figure_there_is_no_bar():
    assert "master-down interval" not in {t.name for t in failover_timeline(crash_events(),
                                                                            PROBES).data}


@pytest.mark.parametrize("events, probes, says", [
    (crash_events(vip=False), PROBES, "no VIP move"),
    (crash_events(master=False, vip=False), PROBES, "no backup became MASTER"),
    (crash_events(crash=False), PROBES, "no crash in these events"),
    (crash_events(), [(T0 + i / 10, True) for i in range(20)], "never went without an answer"),
    (crash_events(), [(T0 + i / 10, i < 3) for i in range(20)], "no good answer after"),
])
def test_a_missing_step_is_refused_with_a_sentence(events, probes, says):
    with pytest.raises(LookupError, match=says):
        failover_timeline(events, probes)


def test_the_old_owner_becoming_master_again_is_not_the_failover():
    """node1's own startup MASTER event is in the log too; only another node's counts."""
    events = crash_events(master=False, vip=False) + [
        {"ts": T0 + 9, "kind": "vrrp", "node": "node1", "state": "master", "message": "back"}]
    with pytest.raises(LookupError, match="no backup became MASTER"):
        failover_steps(events, PROBES)


def test_memory_short_says_what_is_missing_and_is_quiet_when_it_fits():
    assert memory_short(600, available=2 * 2**30) is None
    said = memory_short(600, available=300 * 2**20)
    assert said and "300 MiB" in said and "600 MiB" in said and "skipped" in said
