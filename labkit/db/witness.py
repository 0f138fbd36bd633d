"""The witness: which instance of a database pair is active, and since which epoch.

Two nodes alone cannot tell "my peer died" from "I am cut off", nor — after both died — which of
them holds the newest commits. Real clusters add a third vote (a quorum disk, a witness node).
In the lab it is a small JSON file per tier in the run directory, written atomically by the
watcher that promotes; every promotion increments the epoch.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Term:
    epoch: int
    active: str
    since: float


def _path(rundir: Path, tier: str) -> Path:
    return rundir / "witness" / f"{tier}.json"


def read(rundir: Path, tier: str) -> Term | None:
    try:
        return Term(**json.loads(_path(rundir, tier).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def claim(rundir: Path, tier: str, node: str, expected_epoch: int) -> Term | None:
    """Become active for epoch expected_epoch + 1, unless someone else already moved the epoch."""
    path = _path(rundir, tier)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o777)  # watchers may run as the servers' own users
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read(rundir, tier)
        if (current.epoch if current else 0) != expected_epoch:
            return None
        term = Term(expected_epoch + 1, node, time.time())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(term)))
        tmp.replace(path)
        return term
