"""Hidden checks of lesson 06 (`labkit.ui.course.check("06", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The lab's replication
factor comes from labkit.cassandra.config, the rule that sets the keyspace's."""

from __future__ import annotations

from typing import Any

from labkit.cassandra import config

LEVELS = ("ONE", "QUORUM", "ALL")


def needed(level: str, rf: int) -> int:
    """How many replicas must answer at `level` (Cassandra's own rule: QUORUM is a strict
    majority, rf // 2 + 1)."""
    return {"ONE": 1, "QUORUM": rf // 2 + 1, "ALL": rf}[level]


def succeeds(level: str, rf: int, down: int) -> bool:
    return rf - down >= needed(level, rf)


def works(answer: Any, lab: Any) -> str | None:
    """`answer(level, rf, down) -> bool`: does a read or write at `level` succeed when `down`
    of the `rf` replicas of its data are down?"""
    if not callable(answer):
        return "write a function, `def works(level, rf, down): ...`, and pass the function itself"
    wrong: dict[str, tuple[int, int]] = {}
    for rf in range(1, 6):
        for down in range(rf + 1):
            for level in LEVELS:
                got = answer(level, rf, down)
                if not isinstance(got, bool):
                    return f"return True or False (you returned {got!r})"
                if got != succeeds(level, rf, down):
                    wrong.setdefault(level, (rf, down))
    if "ONE" in wrong:
        rf, down = wrong["ONE"]
        return (f"check ONE with rf = {rf} and {down} down: ONE needs any single live replica, "
                "no more")
    if "QUORUM" in wrong:
        rf, down = wrong["QUORUM"]
        return (f"check QUORUM with rf = {rf} and {down} down: a quorum is a strict majority of "
                "the replicas, more than half of them (half is not enough: two halves could "
                "each think they are the quorum)")
    if "ALL" in wrong:
        rf, down = wrong["ALL"]
        return f"check ALL with rf = {rf} and {down} down: ALL waits for every replica"
    return None


def choose_level(answer: Any, lab: Any) -> str | None:
    """The strongest level at which an upload still succeeds with one Cassandra node down in
    this lab ("NONE" when none does: a ring of one node has a single copy)."""
    if not isinstance(answer, str) or answer.strip().upper() not in (*LEVELS, "NONE"):
        return "give one of 'ONE', 'QUORUM', 'ALL' as a string, or 'NONE' if no level survives"
    got = answer.strip().upper()
    rf = config.replication_factor(lab.layout)
    surviving = [lv for lv in LEVELS if succeeds(lv, rf, min(1, rf))]
    best = surviving[-1] if surviving else "NONE"
    if got == best:
        return None
    if got == "NONE":
        return (f"with rf = {rf}, one node down still leaves a live copy of everything: some "
                "level succeeds")
    if got not in surviving:
        return (f"with rf = {rf} and one replica down, count how many replicas {got} needs and "
                "how many are left")
    return f"{got} survives, but a stronger level survives too with rf = {rf}"
