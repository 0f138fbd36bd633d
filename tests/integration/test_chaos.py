"""A short chaos run against the shared lab: every check green, availability measured."""

from labkit.chaos import run_chaos


def test_short_chaos_run_loses_nothing(lab):
    report = run_chaos(lab, duration=40, seed=7, rate=5)
    assert report.plan, "the run injected faults"
    assert report.requests > 100
    assert report.problems == [], report.summary()
    assert 0.0 < report.availability <= 1.0
    assert all(n["state"] == "up" for n in lab.status()["nodes"])
