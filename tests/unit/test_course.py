"""The lessons' predictions and hidden checks (issue 15): a prediction is fixed once committed,
a check passes the right answer and fails wrong ones with a hint, progress is kept per lab."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labkit.topology import Topology
from labkit.ui.course import Prediction, Progress, check


@pytest.fixture
def lab():
    return SimpleNamespace(layout=SimpleNamespace(topology=Topology.default()))


def test_the_master_down_check_passes_the_right_answer(lab, tmp_path):
    progress = Progress(tmp_path / "progress.json")
    verdict = check("01", "master_down", 1.5 + 166 * 0.5 / 256, lab, progress)
    assert verdict.passed and "right" in verdict.text
    assert progress.read()["01"]["checks"]["master_down"]["value"] is True


@pytest.mark.parametrize("answer, hint", [
    (1.5, "three adverts and then its skew time"),
    (0.3242, "skew time alone"),  # the default backup, node2, has priority 90
    (10, "three advert intervals plus the skew time"),
    ("1.8", "give a number"),
    (None, "write your answer"),
])
def test_the_master_down_check_fails_wrong_answers_with_a_hint(lab, answer, hint):
    verdict = check("01", "master_down", answer, lab)
    assert not verdict.passed and hint in verdict.text


def test_a_check_that_does_not_exist_says_so_plainly(lab, tmp_path):
    (tmp_path / "99.py").write_text("def q(answer, lab):\n    return 1 / 0\n")
    assert "could not be checked (ZeroDivisionError" in check("99", "q", 1, lab,
                                                               folder=tmp_path).text
    with pytest.raises(LookupError):
        check("99", "nope", 1, lab, folder=tmp_path)


def test_a_prediction_is_fixed_once_committed_and_compared(tmp_path):
    progress = Progress(tmp_path / "progress.json")
    p = Prediction("01", "gap", "How long?", ["under 1 s", "1–3 s"], progress)
    p.choose("1–3 s")
    p.choose("under 1 s")  # too late: committed
    assert p.answer == "1–3 s" and p.picker.disabled
    assert p.reveal("1–3 s").startswith("✔")
    assert p.reveal("under 1 s") == "You predicted 1–3 s; it was under 1 s."
    assert progress.read()["01"]["predictions"]["gap"]["value"] == "1–3 s"


def test_no_prediction_is_said_plainly():
    p = Prediction("01", "gap", "How long?", ["a", "b"])
    p.choose(None)
    assert p.answer is None and "pick one" in p.said.value
    assert "did not commit" in p.reveal("a")
    with pytest.raises(ValueError):
        p.reveal("c")
