"""The witness: which instance of a database pair is active, and since which epoch.

Two nodes alone cannot tell "my peer died" from "I am cut off", nor — after both died — which of
them holds the newest commits. Real clusters add a third vote (a quorum disk, a witness node).
In the lab it is a small JSON file per tier in the run directory, written atomically by the
watcher that promotes; every promotion increments the epoch.

`alone` records that the active went on without a synchronous standby (it stopped waiting for
acknowledgements): from then on the standby lacks commits a client saw succeed, so it must not be
promoted until it has caught up and the active clears the flag. Promotion and going alone both
happen under the witness lock, so exactly one of them wins when each side thinks the other died.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from labkit import atomic
from labkit.layout import RunDir

if TYPE_CHECKING:
    from labkit.layout import Layout


@dataclass(frozen=True)
class Term:
    epoch: int
    active: str
    since: float
    alone: bool = False


def _path(rundir: Path, tier: str) -> Path:
    return RunDir(rundir).witness(tier)


def read(rundir: Path, tier: str) -> Term | None:
    try:
        return Term(**json.loads(_path(rundir, tier).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def claim(rundir: Path, tier: str, node: str, expected_epoch: int,
          alone: bool = False) -> Term | None:
    """Become active for epoch expected_epoch + 1, unless someone else already moved the epoch
    (or the active of this epoch went on alone: its standby lacks acknowledged commits)."""
    path = _path(rundir, tier)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o777)  # watchers may run as the servers' own users
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read(rundir, tier)
        if (current.epoch if current else 0) != expected_epoch or (current and current.alone):
            return None
        term = Term(expected_epoch + 1, node, time.time(), alone)
        _write(path, term)
        return term


def set_alone(rundir: Path, tier: str, node: str, epoch: int, alone: bool) -> bool:
    """The active of `epoch` records whether it commits without a synchronous standby.

    False if the epoch has moved on (the standby was promoted first): the caller must then not
    stop waiting for acknowledgements, because it is no longer the active.
    """
    path = _path(rundir, tier)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read(rundir, tier)
        if current is None or current.epoch != epoch or current.active != node:
            return False
        if current.alone != alone:
            _write(path, replace(current, alone=alone))
        return True


def _write(path: Path, term: Term) -> None:
    # fsynced: a promotion decided on a term the machine's crash then forgets is split brain
    atomic.write_json(path, asdict(term), durable=True)


def cut_off(layout: Layout, node: str, peer: str) -> bool:
    """True when `node` reaches none of the other nodes' app servers: then the silence of its
    peer most likely means that `node` itself is isolated, and it must not take over. The file
    lock above stays reachable from an isolated node, so this network check is its third vote.
    A pair with no third node cannot tell, and answers False."""
    others = [n.name for n in layout.nodes if n.name not in (node, peer) and n.has("app")]
    for other in others:
        try:
            with socket.create_connection((layout.address(other), layout.ports.app), timeout=0.5):
                return False
        except OSError:
            continue
    return bool(others)
