"""The lab's event log: one JSON object per line in the run directory.

Every component that changes what a learner sees (the VIP moved, a node crashed, a database was
promoted) appends here, from whatever process it runs in; `labkit events` and the dashboard read it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def emit(path: Path, kind: str, **fields: Any) -> dict[str, Any]:
    """Append one event; safe from many processes at once (each line written under a lock).

    `ts` is now unless the caller passes when it happened (a crash is written once every
    process is gone, a second or two after it began: the events it caused come first in the
    file, and `read` puts them back in order)."""
    event = {"ts": time.time(), "kind": kind, **fields}
    line = json.dumps(event, sort_keys=True, default=str) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_UN)
    return event


def read(path: Path, since: float = 0.0, kinds: set[str] | None = None) -> list[dict[str, Any]]:
    """Every event at or after `since` (a Unix time), oldest first (by `ts`, not file order)."""
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written right now
            if ev.get("ts", 0) >= since and (kinds is None or ev.get("kind") in kinds):
                out.append(ev)
    return sorted(out, key=lambda ev: ev.get("ts", 0))


def follow(path: Path, poll: float = 0.2) -> Iterator[dict[str, Any]]:
    """Yield events as they are appended (like `tail -f`), starting from the current end."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    with open(path, encoding="utf-8") as fh:
        fh.seek(0, os.SEEK_END)
        buf = ""
        while True:
            chunk = fh.readline()
            if not chunk:
                time.sleep(poll)
                continue
            buf += chunk
            if buf.endswith("\n"):
                with contextlib.suppress(json.JSONDecodeError):
                    yield json.loads(buf)
                buf = ""


def describe(ev: dict[str, Any]) -> str:
    """One human line for an event."""
    millis = int(ev["ts"] * 1000) % 1000
    stamp = time.strftime("%H:%M:%S", time.localtime(ev["ts"])) + f".{millis:03d}"
    rest = {k: v for k, v in ev.items() if k not in ("ts", "kind", "message")}
    text = ev.get("message") or " ".join(f"{k}={v}" for k, v in sorted(rest.items()))
    return f"{stamp}  {ev['kind']:<18} {text}"
