"""The history of a chaos run, in Jepsen's manner: every operation as invoke → ok / fail / info.

An operation is invoked by one client (a *process*), then completes in one of three ways:

* ``ok``: the system acknowledged it (a write committed, a read returned).
* ``fail``: it certainly did not happen (the request never left, or the server said "not done").
* ``info``: nobody knows (a timeout, a connection lost after the request was sent). An ``info``
  write may or may not be in the database; the checker must not count it either way.

An operation still running when the run ends is ``info`` too (Jepsen's crashed process). Times
are seconds since the run began, on the monotonic clock, so that windows and fault bands line up.
The history is written as JSON lines: one line per invocation and one per completion.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("ok", "fail", "info")


class Unknown(Exception):  # noqa: N818 - Jepsen's word; it is an outcome, not a bug
    """The request went out and its outcome is unknown (Jepsen's :info)."""


@dataclass
class Op:
    """One operation: who, what, on which tier and node, when, and how it ended."""

    process: str  # the client, e.g. "mysql-v1"
    tier: str  # "mysql", "postgres", "requests", ...
    f: str  # "add" | "read" | a workload's own verb
    value: Any = None  # the element added, or None
    node: str | None = None  # where it was sent: the replica read, "vip" or "direct"
    start: float = 0.0
    end: float | None = None
    type: str = "invoke"  # invoke until it completes: ok | fail | info
    result: list[str] | None = None  # what a read saw
    error: str | None = None
    final: bool = False  # the decisive read on the primary after recovery
    served: str | None = None  # the database node that answered (a VIP write: where it landed)

    @property
    def done(self) -> bool:
        return self.type in OUTCOMES


@dataclass
class History:
    """Thread-safe list of operations; each client appends its own."""

    t0: float = field(default_factory=time.monotonic)
    ops: list[Op] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 4)

    def invoke(self, process: str, tier: str, f: str, value: Any = None,
               node: str | None = None, final: bool = False) -> Op:
        op = Op(process, tier, f, value, node, start=self.now(), final=final)
        with self._lock:
            self.ops.append(op)
        return op

    def complete(self, op: Op, outcome: str, result: list[str] | None = None,
                 error: str | None = None, node: str | None = None) -> Op:
        assert outcome in OUTCOMES, outcome
        op.end, op.type, op.result = self.now(), outcome, result
        op.error = error[:200] if error else None
        op.served = node
        return op

    def close(self) -> None:
        """Every operation still running ends as info: its client never heard back."""
        with self._lock:
            for op in self.ops:
                if not op.done:
                    self.complete(op, "info", error="still running when the run ended")

    def of(self, tier: str) -> list[Op]:
        with self._lock:
            return [op for op in self.ops if op.tier == tier]

    def tiers(self) -> list[str]:
        with self._lock:
            return sorted({op.tier for op in self.ops})

    def write_jsonl(self, path: Path) -> Path:
        """Invocations and completions in time order, one JSON object a line."""
        lines: list[tuple[float, int, dict[str, Any]]] = []
        with self._lock:
            for i, op in enumerate(self.ops):
                base = {"process": op.process, "tier": op.tier, "f": op.f, "value": op.value,
                        "node": op.node, "final": op.final, "index": i}
                lines.append((op.start, 0, {**base, "type": "invoke", "time": op.start}))
                if op.done:
                    lines.append((op.end or op.start, 1, {
                        **base, "type": op.type, "time": op.end, "result": op.result,
                        "error": op.error, "served": op.served}))
        lines.sort(key=lambda x: (x[0], x[1]))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            for _, _, row in lines:
                fh.write(json.dumps(row, default=str) + "\n")
        return path


def load_jsonl(path: Path) -> list[Op]:
    """A history written by `write_jsonl`, back as operations (to check it again later)."""
    ops: dict[int, Op] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["type"] == "invoke":
            ops[row["index"]] = Op(row["process"], row["tier"], row["f"], row["value"],
                                   row["node"], start=row["time"], final=row["final"])
        else:
            op = ops[row["index"]]
            op.end, op.type, op.result, op.error = row["time"], row["type"], row["result"], \
                row["error"]
            op.served = row.get("served")
    return list(ops.values())


def as_dict(op: Op) -> dict[str, Any]:
    return asdict(op)
