"""Hidden checks of lesson 09 (`labkit.ui.course.check("09", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The learner's
function is run on fresh random histories, checked against the rule of the lab's own checker
(labkit.chaos.checker: a write is lost when it was acknowledged and the final read lacks it)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

OUTCOMES = ("ok", "fail", "info")


def _history(rng: random.Random) -> tuple[list[tuple[str, str]], list[str]]:
    """A random tier's writes and final read: most acknowledged writes there, some lost;
    unacknowledged ones (fail, info) there or not; some elements read twice (a duplicate)."""
    writes = [(f"{rng.choice('mp')}{rng.randint(1, 4)}-{i}",
               rng.choices(OUTCOMES, weights=(6, 2, 2))[0]) for i in range(rng.randint(5, 40))]
    there = {"ok": 0.8, "fail": 0.15, "info": 0.5}
    final = [e for e, outcome in writes if rng.random() < there[outcome]]
    final += rng.sample(final, k=min(len(final), rng.randint(0, 3)))   # duplicates
    rng.shuffle(final)
    return writes, final


def _cases(rng: random.Random) -> list[tuple[list[tuple[str, str]], list[str]]]:
    fixed = [
        ([("a-1", "ok"), ("a-2", "ok")], ["a-2", "a-1"]),                    # nothing lost
        ([("a-1", "ok"), ("a-2", "info"), ("a-3", "fail")], []),             # only a-1 lost
        ([("a-1", "ok"), ("a-2", "ok"), ("a-3", "info")], ["a-2", "a-2", "a-3"]),  # a duplicate
        ([("a-1", "info"), ("a-2", "fail"), ("a-3", "ok")], ["a-1", "a-3"]),
    ]
    return fixed + [_history(rng) for _ in range(30)]


def _reference(writes: list[tuple[str, str]], final: list[str]) -> set[str]:
    present = set(final)
    return {e for e, outcome in writes if outcome == "ok" and e not in present}


def _as_set(got: Any) -> set[str] | None:
    if isinstance(got, (str, bytes)) or not isinstance(got, Iterable):
        return None
    return set(got)


def lost_writes(answer: Any, lab: Any) -> str | None:
    """`answer(writes, final) -> the lost elements`: `writes` is [(element, outcome)], outcome
    "ok" (acknowledged), "fail" (certainly not done) or "info" (the client never heard back);
    `final` is what the final read returned, in any order, perhaps with duplicates."""
    if not callable(answer):
        return ("write a function, `def lost_writes(writes, final): ...`, and pass the function "
                "itself")
    wrong: set[str] = set()
    for writes, final in _cases(random.Random()):
        got = _as_set(answer(list(writes), list(final)))
        if got is None:
            return "return the lost elements as a list or a set (an empty one when none is lost)"
        want = _reference(writes, final)
        if got == want:
            continue
        outcome = dict(writes)
        extra = got - want
        if extra - set(outcome):
            wrong.add("stranger")
        if any(e in set(final) for e in extra):
            wrong.add("present")
        if any(outcome.get(e) in ("fail", "info") and e not in set(final) for e in extra):
            wrong.add("unacknowledged")
        if want - got:
            wrong.add("missed")
    hints = {
        "stranger": "return elements that were written: some of yours are not in `writes`",
        "present": ("an element the final read returned is not lost, however it was answered "
                    "and however many times it appears"),
        "unacknowledged": ("a write that was never acknowledged (fail, or info: the client never "
                           "heard back) promised nothing, so its absence breaks no promise"),
        "missed": "some acknowledged write is absent from the final read and not in your answer",
    }
    for name in ("stranger", "present", "unacknowledged", "missed"):
        if name in wrong:
            return hints[name]
    return None


def _nines(outcomes: list[str]) -> float:
    down = sum(1 for o in outcomes if o != "ok") / len(outcomes)
    return math.inf if down == 0 else -math.log10(down)


def _close(got: Any, want: float) -> bool:
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return False
    if math.isinf(want):
        return math.isinf(got) and got > 0
    return abs(got - want) <= 0.005


def _outcomes(rng: random.Random, n: int, ok: int, info: int) -> list[str]:
    out = ["ok"] * ok + ["info"] * info + ["fail"] * (n - ok - info)
    rng.shuffle(out)
    return out


def nines(answer: Any, lab: Any) -> str | None:
    """`answer(outcomes) -> nines`: outcomes are "ok", "fail", "info"; only "ok" was answered;
    nines = -log10(1 - availability); every request answered is math.inf nines."""
    if not callable(answer):
        return "write a function, `def nines(outcomes): ...`, and pass the function itself"
    rng = random.Random()
    cases = [_outcomes(rng, 1000, 990, 5), _outcomes(rng, 10000, 9995, 3),
             _outcomes(rng, 200, 150, 20)]
    cases += [_outcomes(rng, n, n - rng.randint(1, n // 10), rng.randint(0, 1))
              for n in (rng.randint(50, 5000) for _ in range(10))]
    for outcomes in cases:
        got = answer(list(outcomes))
        want = _nines(outcomes)
        if _close(got, want):
            continue
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"return a number, e.g. 2.5 (you returned {got!r})"
        share = outcomes.count("ok") / len(outcomes)
        lenient = sum(o != "fail" for o in outcomes) / len(outcomes)
        if abs(got - share) < 1e-6 or abs(got - 100 * share) < 1e-4:
            return ("that is the availability, the share answered; nines count its 9s: 99.9 % "
                    "is 3 nines, 99.99 % is 4. What is left unavailable, as a power of ten?")
        if lenient < 1 and _close(got, -math.log10(1 - lenient)):
            return ("an \"info\" request was never answered (the client gave up or lost the "
                    "connection): it counts against availability, like a fail")
        if abs(got - -math.log(1 - share)) < 1e-6:
            return "nines are powers of ten: use the logarithm to base 10"
        if got == int(got) and int(got) == math.floor(want):
            return "do not round: 99.95 % is 3.3 nines, not 3"
        return "nines = -log10(unavailable share); check which outcomes were answered"
    try:
        perfect = answer(["ok"] * 100)
    except (ValueError, ZeroDivisionError):
        perfect = None
    if not _close(perfect, math.inf):
        return ("when every request was answered nothing is unavailable: there are infinitely "
                "many nines (math.inf), not an error")
    return None
