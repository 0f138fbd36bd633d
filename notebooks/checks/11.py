"""Hidden checks of lesson 11 (`labkit.ui.course.check("11", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away.

`lost_ids(timeline, crash)` is checked on random timelines: commits on the active, each with
the moment its client was told "committed" (`acked`, None if the client never was) and the
moment the standby received it (`received`, None if it never did). The active crashes at
`crash`; the standby takes over with what it received. Lost = acknowledged, never received."""

from __future__ import annotations

import random
from typing import Any

Timeline = list[dict[str, Any]]


def _lost(timeline: Timeline, crash: float) -> set[int]:
    """The truth: acknowledged before the crash and not in the standby's relay log by then."""
    return {c["id"] for c in timeline
            if c["acked"] is not None and c["acked"] <= crash
            and (c["received"] is None or c["received"] > crash)}


def _timeline(rng: random.Random, mode: str, n: int = 12) -> tuple[Timeline, float]:
    """`n` commits, one every 0.1 s, under `mode` (async, after_sync, after_commit); the
    standby stops receiving at `cut` (a crash or a cut link); the active crashes later."""
    cut = round(rng.uniform(0.3, 0.8), 2)
    crash = round(cut + rng.uniform(0.2, 0.5), 2)
    out: Timeline = []
    for i in range(1, n + 1):
        committed = round(0.1 * i, 2)
        got = round(committed + rng.uniform(0.005, 0.05), 3)
        received = got if got <= cut else None
        if mode == "async":
            acked = committed  # the client hears at once, whatever the standby has
        else:  # semi-sync: the client hears only once the standby acknowledged receipt
            acked = round(received + 0.002, 3) if received is not None else None
        if acked is not None and acked > crash:
            acked = None  # the crash came first: the client got an error or nothing
        out.append({"id": i, "acked": acked, "received": received})
    return out, crash


def cases(seed: int = 11) -> list[tuple[Timeline, float]]:
    """The timelines the check runs: mostly asynchronous, and semi-sync ones (no loss)."""
    rng = random.Random(seed)
    modes = ["async"] * 5 + ["after_sync", "after_commit"] * 2
    return [_timeline(rng, mode) for mode in modes]


def _hint(got: set[int], timeline: Timeline, crash: float) -> str:
    want = _lost(timeline, crash)
    by_id = {c["id"]: c for c in timeline}
    extra, short = got - want, want - got
    if any(by_id.get(i, {}).get("acked") is None for i in extra):
        return ("a commit whose client was never told \"committed\" is not lost: nothing was "
                "promised (the client got an error, or no answer, and may retry)")
    if any(i in by_id for i in extra):
        return ("the standby had received some of those before the crash: the promotion "
                "applies its relay log first, so they survive")
    if extra:
        return "return ids from the timeline (its \"id\" fields)"
    if short:
        return ("an acknowledged commit the standby never received (received is None) is "
                "lost: compare each acknowledged commit with what the standby had at the crash")
    return "compare acknowledged commits with what the standby had received at the crash"


def lost_ids(answer: Any, lab: Any) -> str | None:
    """`answer(timeline, crash) -> list of ids`: the acknowledged commits the new active lacks."""
    if not callable(answer):
        return ("write a function, `def lost_ids(timeline, crash): ...`, and pass the function "
                "itself")
    for timeline, crash in cases():
        got = answer([dict(c) for c in timeline], crash)
        if isinstance(got, int) and not isinstance(got, bool):
            return "return the list of ids, not how many there are"
        if not isinstance(got, (list, tuple, set)):
            return f"return a list of ids (you returned {type(got).__name__})"
        if set(got) != _lost(timeline, crash):
            return _hint(set(got), timeline, crash)
    return None
