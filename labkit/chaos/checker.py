"""Check a chaos history the way Jepsen's set-full checker does, and measure availability.

Each database tier is a *set*: clients add unique elements (through the VIP and straight to the
database) and readers read the whole set, from every replica, while the faults run. After
recovery one last read on the primary decides. Every element gets one verdict:

* ``ok``: acknowledged and present in the final read.
* ``lost``: acknowledged, then absent from the final read. The promise was broken.
* ``duplicated``: present more than once in a read (a retried write applied twice).
* ``unexpected``: the client was told it certainly failed, yet it is there.
* ``recovered``: the outcome was unknown (info) and it is there: fine either way.
* ``unknown``: the outcome was unknown and it is absent: fine, nothing was promised.
* ``vanished``: never acknowledged, seen by some read, then gone (an uncommitted or fenced
  transaction that a reader saw): reported, not a violation of any acknowledged promise.
* ``failed``: certainly failed and absent, as it should be.
* ``never-read``: no final read happened, so nothing can be said.

Stale reads are counted beside the verdicts: a read that began after an element was
acknowledged and did not see it, although the final read has it (a lagging standby, or a
primary that had not applied it yet). A run is valid when nothing is lost, duplicated or
unexpected.

Availability is counted two ways. Per request, ok ÷ completed: simple, but a request that hangs
for ten seconds counts as one failure. Per window (1 s by default): a window is available if
some operation of the tier succeeded in it, and its success ratio is ok ÷ completed in it (0
when nothing came back at all, the hung case).
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from dataclasses import dataclass, field

from labkit.chaos.history import Op

VIOLATIONS = ("lost", "duplicated", "unexpected")
VERDICTS = ("ok", "lost", "duplicated", "unexpected", "recovered", "unknown", "vanished",
            "failed", "never-read")


@dataclass
class SetResult:
    """The set-full verdict of one tier."""

    tier: str
    verdicts: dict[str, str] = field(default_factory=dict)  # element → verdict
    stale: dict[str, int] = field(default_factory=dict)  # element → stale reads of it
    final_read: bool = False

    @property
    def counts(self) -> dict[str, int]:
        have = Counter(self.verdicts.values())
        return {v: have.get(v, 0) for v in VERDICTS}

    def elements(self, verdict: str) -> list[str]:
        return sorted(e for e, v in self.verdicts.items() if v == verdict)

    @property
    def lost(self) -> list[str]:
        return self.elements("lost")

    @property
    def stale_reads(self) -> int:
        return sum(self.stale.values())

    @property
    def valid(self) -> bool:
        return self.final_read and not any(self.counts[v] for v in VIOLATIONS)

    def problems(self) -> list[str]:
        out = [] if self.final_read else [f"{self.tier}: no final read on the primary"]
        for verdict in VIOLATIONS:
            items = self.elements(verdict)
            if items:
                out.append(f"{self.tier}: {len(items)} {verdict} (e.g. {', '.join(items[:5])})")
        return out


def check_set(tier: str, ops: list[Op]) -> SetResult:
    """The verdict of every element added on `tier`, from its adds and reads."""
    adds = {op.value: op for op in ops if op.f == "add"}
    reads = [op for op in ops if op.f == "read" and op.type == "ok" and op.result is not None]
    finals = [op for op in reads if op.final]
    final = Counter(finals[-1].result) if finals else None
    result = SetResult(tier, final_read=final is not None)
    seen = {e for r in reads if not r.final for e in r.result or []}
    during = _ReadsDuring(reads)
    for element in sorted(set(adds) | set(final or ())):
        add = adds.get(element)
        result.verdicts[element] = _verdict(add.type if add else "fail", element in seen,
                                            final, element)
        if add and add.type == "ok" and final and final[element] == 1:
            result.stale[element] = during.missing_after(add, element)
    for read in reads:  # a duplicate in any read, not only the final one
        for element, n in Counter(read.result or []).items():
            if n > 1:
                result.verdicts[element] = "duplicated"
    result.stale = {e: n for e, n in result.stale.items() if n}
    return result


def _verdict(outcome: str, seen: bool, final: Counter[str] | None, element: str) -> str:
    if final is None:
        return "never-read"
    present = final[element]
    if present > 1:
        return "duplicated"
    if outcome == "ok":
        return "ok" if present else "lost"
    if outcome == "fail":
        return "unexpected" if present else "failed"
    if present:
        return "recovered"
    return "vanished" if seen else "unknown"


class _ReadsDuring:
    """The reads made during the run, by start time, each as a set: a 300 s run has thousands
    of elements and of reads, and a list scanned per element per read took minutes."""

    def __init__(self, reads: list[Op]) -> None:
        during = sorted((r for r in reads if not r.final), key=lambda r: r.start)
        self.starts = [r.start for r in during]
        self.sets = [frozenset(r.result or ()) for r in during]

    def missing_after(self, add: Op, element: str) -> int:
        """Reads that began after the add was acknowledged and still did not see it."""
        done = add.end if add.end is not None else float("inf")
        first = bisect.bisect_right(self.starts, done)
        return sum(1 for seen in self.sets[first:] if element not in seen)


# -- availability ---------------------------------------------------------------------------


@dataclass
class Availability:
    """One tier's availability: per request, and per window of `width` seconds."""

    tier: str
    ok: int
    fail: int
    info: int
    width: float
    windows: list[float]  # per window: ok ÷ completed (0.0 when nothing came back)

    @property
    def per_request(self) -> float:
        total = self.ok + self.fail + self.info
        return 1.0 if not total else self.ok / total

    @property
    def available_windows(self) -> float:
        """The share of windows in which at least one operation succeeded."""
        if not self.windows:
            return 1.0
        return sum(1 for w in self.windows if w > 0) / len(self.windows)

    @property
    def window_min(self) -> float:
        return min(self.windows, default=1.0)

    @property
    def window_p50(self) -> float:
        return statistics.median(self.windows) if self.windows else 1.0


def availability(tier: str, ops: list[Op], duration: float, width: float = 1.0) -> Availability:
    """Count `ops` (the run's, not the final read) per request and per window."""
    ops = [op for op in ops if not op.final]
    kinds = Counter(op.type for op in ops)
    n = max(1, int(-(-duration // width)))  # ceil
    ok, done = [0] * n, [0] * n
    for op in ops:
        if op.end is None or not 0 <= op.end < n * width:
            continue
        i = int(op.end // width)
        done[i] += 1
        ok[i] += op.type == "ok"
    ratios = [ok[i] / done[i] if done[i] else 0.0 for i in range(n)]
    return Availability(tier, kinds["ok"], kinds["fail"], kinds["info"], width, ratios)
