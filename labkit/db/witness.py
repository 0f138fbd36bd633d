"""The witness: which instance of a database pair is active, and since which epoch.

Two nodes alone cannot tell "my peer died" from "I am cut off", nor — after both died — which of
them holds the newest commits. Real clusters add a third vote (a quorum disk, a witness node).
In the lab it is a small JSON file per tier in the run directory, written atomically by the
watcher that promotes; every promotion increments the epoch.

`alone` records that the active went on without a synchronous standby (it stopped waiting for
acknowledgements): from then on the standby lacks commits a client saw succeed, so it must not be
promoted until it has caught up and the active clears the flag. Promotion and going alone both
happen under the witness lock, so exactly one of them wins when each side thinks the other died.

A witness file that exists but cannot be read (`WitnessCorrupt`) is not "no witness": that would
let a first node start epoch 1 over data it may not have, and let a standby promote without
knowing who went on alone. It stops every promotion until a person repairs it, for example by
naming the active explicitly:

    labkit db force TIER NODE [--epoch N] [--lab LAB]

`force` is also the one way to promote a standby although the active went on alone: it accepts
that the commits the active acknowledged alone are lost.
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

from labkit import atomic, events
from labkit.errors import LabError
from labkit.layout import RunDir

if TYPE_CHECKING:
    from labkit.layout import Layout


@dataclass(frozen=True)
class Term:
    epoch: int
    active: str
    since: float
    alone: bool = False
    #: when the active last stopped waiting for a synchronous standby (None while it waits)
    alone_since: float | None = None


WITNESS_DIR_MODE = 0o755


class WitnessCorrupt(LabError):
    """The witness file exists but holds no readable term: every promotion stops until it is
    repaired, because nobody can tell who is active or whether the active went on alone."""

    def __init__(self, path: Path, why: str) -> None:
        tier = path.stem
        super().__init__(f"the {tier} witness {path} is unreadable ({why}): no {tier} "
                         "instance will be promoted until it is repaired",
                         f"name the active yourself: labkit db force {tier} NODE --epoch N "
                         "(N above every epoch seen so far)")
        self.path = path


def _path(rundir: Path, tier: str) -> Path:
    return RunDir(rundir).witness(tier)


def read(rundir: Path, tier: str) -> Term | None:
    """The current term; None only when there is no witness file yet (a new lab).

    Raises WitnessCorrupt when the file is there but unreadable.
    """
    path = _path(rundir, tier)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return _term(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise WitnessCorrupt(path, str(exc)[:120] or type(exc).__name__) from None


def _term(data: object) -> Term:
    """A Term from the file's JSON, checking the types the watchers rely on."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    term = Term(**data)
    if not (type(term.epoch) is int and term.epoch >= 1 and isinstance(term.active, str)
            and term.active and isinstance(term.alone, bool)):
        raise ValueError(f"bad term {data!r}"[:100])
    return term


def _ensure_dir(folder: Path) -> None:
    """The witness folder: only the lab's own user (who runs every watcher) may write in it;
    anyone may read the terms (`labkit status` does). A folder another user could write in
    would let them force a promotion or a fence."""
    folder.mkdir(mode=WITNESS_DIR_MODE, parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o777 != WITNESS_DIR_MODE:
        os.chmod(folder, WITNESS_DIR_MODE)  # a folder an older labkit made world-writable


def claim(rundir: Path, tier: str, node: str, expected_epoch: int,
          alone: bool = False) -> Term | None:
    """Become active for epoch expected_epoch + 1, unless someone else already moved the epoch
    (or the active of this epoch went on alone: its standby lacks acknowledged commits).

    `alone`: the new active starts without a synchronous standby. Raises WitnessCorrupt (and
    claims nothing) when the witness is unreadable.
    """
    path = _path(rundir, tier)
    _ensure_dir(path.parent)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read(rundir, tier)
        if (current.epoch if current else 0) != expected_epoch or (current and current.alone):
            return None
        now = time.time()
        term = Term(expected_epoch + 1, node, now, alone, now if alone else None)
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
            _write(path, replace(current, alone=alone, alone_since=time.time() if alone else None))
        return True


def force(rundir: Path, tier: str, node: str, epoch: int | None = None) -> Term:
    """A person's decision: `node` is the active of a new epoch, whatever the witness said.

    For a standby the lab refused to promote (the active went on alone), this accepts that the
    commits the old active acknowledged alone are lost. For an unreadable witness it restores a
    term; the epoch must then be given, above every epoch the watchers have seen. The new active
    starts alone: nothing says its peer has its commits.
    """
    path = _path(rundir, tier)
    _ensure_dir(path.parent)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read(rundir, tier)
        except WitnessCorrupt:
            if epoch is None:
                raise
            current = None
        new_epoch = epoch if epoch is not None else (current.epoch if current else 0) + 1
        if current and new_epoch <= current.epoch:
            raise LabError(f"epoch {new_epoch} is not above the current epoch {current.epoch}")
        now = time.time()
        term = Term(new_epoch, node, now, alone=True, alone_since=now)
        _write(path, term)
        return term


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



def force_by_hand(layout: Layout, tier: str, node: str, epoch: int | None = None) -> str:
    """`labkit db force`: name `node` the active by hand, say so in the event log, and return
    the sentence said."""
    layout.topology.node(node)  # a LabError naming the nodes for an unknown one
    try:
        old = read(layout.rundir, tier)
    except WitnessCorrupt as exc:
        old, was = None, exc.message
    else:
        was = (f"{old.active} in epoch {old.epoch}{' (alone)' if old.alone else ''}"
               if old else "nobody")
    term = force(layout.rundir, tier, node, epoch)
    message = (f"{node} named the active {tier} of epoch {term.epoch} by hand (was "
               f"{was}); commits only another instance had are given up")
    events.emit(layout.events_path, f"{tier}_forced", node=node, tier=tier, message=message)
    return message
