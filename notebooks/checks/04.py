"""Hidden checks of lesson 04 (`labkit.ui.course.check("04", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The timers come from
the watcher (POLL) and from the lab's own topology (failover_after, alone_after), not copies."""

from __future__ import annotations

import itertools
import time
from typing import Any

from labkit.db import load, watcher
from labkit.ui import course


def worst_gap(answer: Any, lab: Any) -> str | None:
    """At most how long a crashed active leaves clients without a writable MySQL: the standby's
    watcher looks every POLL seconds, so it notices the silence up to one POLL late; it promotes
    at the first look failover_after seconds after that, up to one POLL later again; the
    promotion itself (apply the relay log, STOP SLAVE, which tries for up to a second to reach
    the dead active, the witness, read_only off) takes up to about a second."""
    after = lab.layout.topology.mysql.failover_after
    if (shared := course.watcher_gap(answer, watcher.POLL, after)) != course.UNDECIDED:
        return shared
    if abs(answer - (after + lab.layout.topology.mysql.alone_after)) <= 0.05 or \
            abs(answer - lab.layout.topology.mysql.alone_after) <= 0.05:
        return ("alone_after is the active's timer, for a standby that went away; here the "
                "active is the one that died")
    if answer < 1:
        return ("semi-sync keeps the standby's copy complete, it does not make the failover "
                "instant: the standby must first be sure the active is gone")
    if answer >= 10:
        return ("that is the order of Junos Space's own heartbeat; this lab's watcher is "
                "quicker: use the timers printed above")
    return ("add up the failover timer, how late the watcher can be (twice, at POLL) and "
            "the promotion")


#: (silent_for beyond failover_after?, caught_up, alone, reaches_others) → may take over
def _rule(long_enough: bool, caught_up: bool, alone: bool, reaches_others: bool) -> bool:
    return long_enough and caught_up and not alone and reaches_others


def may_take_over(answer: Any, lab: Any) -> str | None:
    """`answer(silent_for, caught_up, alone, reaches_others) -> bool`: may the standby take
    over? Only when the active has been silent failover_after seconds or more, the standby was
    caught up in this epoch, the active did not go on alone, and the standby still reaches some
    other node (the third vote)."""
    if not callable(answer):
        return ("write a function, `def may_take_over(silent_for, caught_up, alone, "
                "reaches_others): ...`, and pass the function itself")
    after = lab.layout.topology.mysql.failover_after
    wrong: set[str] = set()
    for long_enough, caught_up, alone, reaches in itertools.product([True, False], repeat=4):
        got = answer(after + 0.5 if long_enough else after / 3, caught_up, alone, reaches)
        if not isinstance(got, bool):
            return f"return True or False (you returned {got!r})"
        if got == _rule(long_enough, caught_up, alone, reaches):
            continue
        if not got:
            wrong.add("refuses")
        elif not long_enough:
            wrong.add("silence")
        elif alone:
            wrong.add("alone")
        elif not caught_up:
            wrong.add("caught_up")
        else:
            wrong.add("reaches")
    hints = {
        "silence": ("the active may only be slow: the standby waits for failover_after "
                    "seconds of silence first"),
        "alone": ("an active that went on alone acknowledged commits this standby never "
                  "received: taking over would lose writes a client saw succeed"),
        "caught_up": ("a standby that never caught up in this epoch (it was down while the "
                      "active took writes) lacks acknowledged commits"),
        "reaches": ("a standby that reaches no other node is more likely the one cut off: that "
                    "is what the third vote is for"),
        "refuses": ("when the active is silent long enough and none of the reasons to wait "
                    "holds, the standby must take over, or nobody takes writes"),
    }
    for name in ("silence", "alone", "caught_up", "reaches", "refuses"):
        if name in wrong:
            return hints[name]
    return None


class _Cursor:
    """A stand-in for a pymysql cursor on a made-up `writes` table."""

    def __init__(self, present: list[int]) -> None:
        self.present = present

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def execute(self, *_args: Any) -> int:
        return len(self.present)

    def fetchall(self) -> list[dict[str, int]]:
        return [{"seq": s} for s in self.present]

    def close(self) -> None:
        return None


class _Conn:
    def __init__(self, present: list[int]) -> None:
        self.present = present

    def cursor(self, *_args: Any) -> _Cursor:
        return _Cursor(self.present)


def lost_rows(answer: Any, lab: Any) -> str | None:
    """`answer(load, conn) -> list`: the acknowledged rows the database behind `conn` lacks.
    The made-up case: rows 1-6 written; 4 failed at the client (yet reached the database,
    which happens when the acknowledgement is what got lost), 3 was acknowledged and is not
    there. Lost is [3]; 4 is not lost (its client was told it failed)."""
    if not callable(answer):
        return ("write a function, `def lost_rows(load, conn): ...`, and pass the function "
                "itself")
    made_up = load.WriteLoad(None, None, "check-04")  # type: ignore[arg-type]
    made_up.acked, made_up.seq = [1, 2, 3, 5, 6], 6
    made_up.errors = [(time.time(), "OperationalError: (2013, 'Lost connection')")]
    present = [1, 2, 4, 5, 6]
    got = answer(made_up, _Conn(present))
    if isinstance(got, int) and not isinstance(got, bool):
        return "return the list of rows (their seq numbers), not how many there are"
    if not isinstance(got, (list, tuple, set)):
        return f"return a list of seq numbers (you returned {type(got).__name__})"
    got_set = set(got)
    if got_set == {3}:
        return None
    if got_set == set(made_up.errors) or any(isinstance(g, tuple) for g in got):
        return ("those are the writes the server refused: their clients were told, and may "
                "retry. Lost writes are acknowledged ones the database lacks")
    if got_set == {4}:
        return ("row 4 failed at the client: nobody was told it succeeded, so it is not lost; "
                "look for an acknowledged row the database lacks")
    if got_set == set(made_up.acked):
        return "that is every row the server acknowledged; which of them does the database lack?"
    if got_set == set(present):
        return "those are the rows the database has; you want the acknowledged ones it lacks"
    if not got_set:
        return ("the check's made-up database does lack an acknowledged row: compare "
                "load.acked with what the table holds")
    return "compare the acknowledged seqs (load.acked) with the seqs the table holds"
