"""The set-full checker on hand-made histories: each verdict shown able to fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.chaos.checker import availability, check_set
from labkit.chaos.history import History, Op, load_jsonl


def add(element: str, outcome: str, start: float, end: float) -> Op:
    return Op("p1", "mysql", "add", element, start=start, end=end, type=outcome)


def read(seen: list[str], start: float, end: float, node: str = "node1",
         final: bool = False) -> Op:
    return Op("r", "mysql", "read", None, node, start=start, end=end, type="ok",
              result=seen, final=final)


def test_a_clean_history_is_valid():
    ops = [add("a", "ok", 0, 1), add("b", "ok", 1, 2), read(["a", "b"], 10, 11, final=True)]
    res = check_set("mysql", ops)
    assert res.valid and res.verdicts == {"a": "ok", "b": "ok"} and res.problems() == []


def test_an_acknowledged_element_absent_from_the_final_read_is_lost():
    ops = [add("a", "ok", 0, 1), add("b", "ok", 1, 2), read(["a", "b"], 3, 4),
           read(["a"], 10, 11, final=True)]
    res = check_set("mysql", ops)
    assert res.verdicts["b"] == "lost" and res.lost == ["b"]
    assert not res.valid and "1 lost" in res.problems()[0]


def test_a_duplicate_in_any_read_is_a_violation():
    res = check_set("mysql", [add("a", "ok", 0, 1), read(["a", "a"], 10, 11, final=True)])
    assert res.verdicts["a"] == "duplicated" and not res.valid
    res = check_set("mysql", [add("a", "ok", 0, 1), read(["a", "a"], 2, 3, node="node2"),
                              read(["a"], 10, 11, final=True)])
    assert res.verdicts["a"] == "duplicated" and not res.valid


def test_unknown_outcomes_are_never_counted_against_the_system():
    ops = [add("a", "info", 0, 5), add("b", "info", 0, 5), add("c", "info", 0, 5),
           read(["a", "c"], 3, 4), read(["a"], 10, 11, final=True)]
    res = check_set("mysql", ops)
    assert res.verdicts == {"a": "recovered", "b": "unknown", "c": "vanished"}
    assert res.valid


def test_a_definite_failure_that_took_effect_is_unexpected():
    ops = [add("a", "fail", 0, 1), add("b", "fail", 0, 1), read(["a"], 10, 11, final=True)]
    res = check_set("mysql", ops)
    assert res.verdicts == {"a": "unexpected", "b": "failed"} and not res.valid
    # an element nobody added at all is unexpected too
    res = check_set("mysql", [read(["ghost"], 10, 11, final=True)])
    assert res.verdicts == {"ghost": "unexpected"}


def test_stale_reads_are_reads_after_the_ack_that_missed_it():
    ops = [add("a", "ok", 0, 1),
           read([], 0.5, 0.8, node="node2"),  # began before the ack: not stale
           read([], 2, 3, node="node2"),  # began after: stale
           read(["a"], 4, 5, node="node2"),
           read(["a"], 10, 11, final=True)]
    res = check_set("mysql", ops)
    assert res.verdicts["a"] == "ok" and res.stale == {"a": 1} and res.stale_reads == 1
    assert res.valid  # stale is reported, not a violation of a set


def test_without_a_final_read_nothing_can_be_said():
    res = check_set("mysql", [add("a", "ok", 0, 1), read(["a"], 2, 3)])
    assert res.verdicts == {"a": "never-read"}
    assert not res.valid and "no final read" in res.problems()[0]


def test_availability_per_request_and_per_window():
    ops = [Op("p", "t", "add", str(i), start=i * 0.5, end=i * 0.5 + 0.1, type="ok")
           for i in range(4)]  # ok in windows 0 and 1
    ops.append(Op("p", "t", "add", "hung", start=2.0, end=6.5, type="info"))  # hangs 2..6.5
    av = availability("t", ops, duration=8)
    assert av.per_request == pytest.approx(4 / 5)
    assert av.windows == [1.0, 1.0, 0, 0, 0, 0, 0.0, 0]
    assert av.available_windows == pytest.approx(2 / 8)  # the hang costs five windows, not one
    assert av.window_min == 0 and av.window_p50 == 0


def test_history_round_trips_through_json_lines(tmp_path: Path):
    h = History()
    a = h.invoke("p1", "mysql", "add", "x")
    h.complete(a, "ok", node="node1")
    r = h.invoke("r", "mysql", "read", node="node2")
    h.complete(r, "ok", result=["x"])
    h.invoke("p2", "mysql", "add", "y")  # never completes
    h.close()
    path = h.write_jsonl(tmp_path / "history.jsonl")
    assert len(path.read_text().splitlines()) == 6
    back = load_jsonl(path)
    assert [(o.value, o.type) for o in back] == [("x", "ok"), (None, "ok"), ("y", "info")]
    assert back[1].result == ["x"]
    assert (back[0].node, back[0].served) == (None, "node1")


@pytest.mark.parametrize(("duration", "rate", "words"), [
    (60, 0, "--rate must be more than 0"), (60, -1, "--rate must be more than 0"),
    (0, 10, "--duration must be a positive"), (-5, 10, "--duration must be a positive"),
    (60, 10, "unknown chaos plan")])
def test_a_run_that_cannot_mean_anything_is_refused(duration, rate, words):
    from labkit.chaos import run_chaos
    from labkit.errors import LabError

    plan = "nuke" if "plan" in words else "random"
    with pytest.raises(LabError, match=words):
        run_chaos(None, duration=duration, seed=1, rate=rate, plan=plan)  # type: ignore[arg-type]


def test_the_timeline_is_one_self_contained_html_file(tmp_path: Path):
    from labkit.chaos.timeline import Band, write_timeline

    h = History()
    op = h.invoke("mysql-v1", "mysql", "add", "x")
    h.complete(op, "ok")
    path = write_timeline(h, [Band(0.0, 1.0, "crash", "crash mysql-active→node1")],
                          {"mysql": availability("mysql", h.ops, 2)}, "t", tmp_path / "t.html")
    html = path.read_text()
    assert '<script src="http' not in html and "crash mysql-active" in html
    assert len(html) > 1_000_000  # plotly.js itself is inside
