"""Hidden checks of lesson 05 (`labkit.ui.course.check("05", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The timers come from
the watcher's own module (labkit.db.watcher) and the server settings from the postgresql.conf
template every instance runs with, not from copies."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

from labkit.db import watcher
from labkit.ui import course

#: the settings labkit appends to every instance's postgresql.conf
CONF = Path(watcher.__file__).parent / "templates" / "postgresql.conf.j2"


def setting_seconds(name: str) -> float:
    """A duration setting of the lab's postgresql.conf (`5s`, `500ms`), in seconds."""
    found = re.search(rf"^{name}\s*=\s*(\d+(?:\.\d+)?)\s*(ms|s|min)?\s*$", CONF.read_text(), re.M)
    if found is None:
        raise LookupError(f"{name} is not set in {CONF.name}")
    value, unit = float(found[1]), found[2] or "ms"
    return value / 1000 if unit == "ms" else value * 60 if unit == "min" else value


def _split(lsn: str) -> tuple[str, str]:
    hi, lo = lsn.split("/")
    return hi, lo


def _true_bytes(lsn: str) -> int:
    hi, lo = _split(lsn)
    return (int(hi, 16) << 32) + int(lo, 16)


def _cases() -> list[str]:
    """LSNs as PostgreSQL prints them: hexadecimal, no zero padding on either half."""
    rng = random.Random()
    made = [f"{rng.randrange(1, 0x40):X}/{rng.randrange(1, 1 << 20):X}",
            f"{rng.randrange(1, 0x40):X}/{rng.randrange(1 << 28, 1 << 32):X}",
            f"0/{rng.randrange(1 << 24, 1 << 28):X}"]
    return ["0/0", "0/3000148", "1/1F", "16/B374D848", *made]


def lsn_bytes(answer: Any, lab: Any) -> str | None:
    """`answer(lsn) -> int`: the byte position in the WAL an LSN `X/Y` names: X is the high
    and Y the low 32 bits, both hexadecimal (what pg_wal_lsn_diff subtracts)."""
    if not callable(answer):
        return "write a function, `def lsn_bytes(lsn): ...`, and pass the function itself"
    for lsn in _cases():
        hi, lo = _split(lsn)
        try:
            got = answer(lsn)
        except ValueError:
            return ("both halves of an LSN are hexadecimal: int() needs to be told the base "
                    "(there are letters A-F in them)")
        if isinstance(got, bool) or not isinstance(got, int):
            return f"return a whole number of bytes, an int (you returned {got!r} for {lsn!r})"
        if got == _true_bytes(lsn):
            continue
        if got == int(lo, 16) and hi != "0":
            return ("that is the part after the slash alone; the part before it counts too, "
                    "and each of its units is 4 GiB of WAL")
        if got == int(hi + lo, 16):
            return ("gluing the two halves together only works when the part after the slash "
                    "has all eight digits, and PostgreSQL prints it without leading zeros: "
                    "treat the halves as the high and the low 32 bits")
        if got == int(hi, 16):
            return "that is the part before the slash alone: the part after it is most of it"
        return (f"for {lsn!r} you gave {got}; an LSN is one 64-bit byte position written as "
                "two hexadecimal halves, high/low")
    return None


def worst_gap(answer: Any, lab: Any) -> str | None:
    """At most how long a crashed primary leaves clients without a writable PostgreSQL: the
    standby's watcher looks every POLL seconds, so it notices the silence up to one POLL late;
    it promotes at the first look failover_after seconds after that, up to one POLL later
    again; the promotion itself (the witness, pg_promote, a CHECKPOINT) takes up to about a
    second."""
    after = lab.layout.topology.postgres.failover_after
    if (shared := course.watcher_gap(answer, watcher.POLL, after)) != course.UNDECIDED:
        return shared
    for name in ("wal_sender_timeout", "wal_receiver_timeout"):
        if abs(answer - setting_seconds(name)) <= 0.05 or \
                abs(answer - setting_seconds(name) - after) <= 0.05:
            return (f"{name} is how long a silent replication connection lasts; the standby's "
                    "watcher does not wait for it: it asks the primary itself, every POLL")
    if answer < 1:
        return ("synchronous replication keeps the standby's copy complete, it does not make the "
                "failover instant: the standby must first be sure the primary is gone")
    return ("add up the failover timer, how late the watcher can be (twice, at POLL) and "
            "the promotion")
