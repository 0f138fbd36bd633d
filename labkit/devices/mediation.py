"""Which node mediates which device: pure functions, no I/O, so every rule is unit-tested.

* Discovery puts each new device on the live node with the fewest devices (ties: lowest name).
* When nodes die, their devices go one by one to the least-loaded survivor, which spreads them
  evenly (100 on 4 nodes, one dies: 33/33/34) and moves nothing else.
* A node that comes back gets nothing until someone asks for a rebalance, which moves the fewest
  devices that make every count differ by at most one.
* Only a partition holding a quorum of the app nodes may change assignments (see `has_quorum`),
  and in it one coordinator does: the lowest-named node of its membership view.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

#: device → mediating node (None: not assigned to any node)
Assignments = Mapping[str, "str | None"]
#: device → (from node or None, to node)
Moves = dict[str, tuple["str | None", str]]


def node_key(name: str) -> tuple:
    """Natural order: node2 before node10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def ordered(nodes: Iterable[str]) -> list[str]:
    return sorted(set(nodes), key=node_key)


def loads(assignments: Assignments, live: Iterable[str]) -> dict[str, int]:
    """Devices per live node (0 for a live node with none)."""
    counts = Counter(n for n in assignments.values() if n is not None)
    return {n: counts.get(n, 0) for n in ordered(live)}


def least_loaded(load: Mapping[str, int]) -> str:
    return min(load, key=lambda n: (load[n], node_key(n)))


def place(new: Iterable[str], assignments: Assignments, live: Iterable[str]) -> Moves:
    """Least-loaded placement of devices, one at a time, counting the earlier ones."""
    load = loads(assignments, live)
    if not load:
        raise ValueError("no live node to place devices on")
    moves: Moves = {}
    for dev in new:
        to = least_loaded(load)
        moves[dev] = (assignments.get(dev), to)
        load[to] += 1
    return moves


def orphans(assignments: Assignments, live: Iterable[str]) -> list[str]:
    """Devices whose node is not live (or who have none), in name order."""
    alive = set(live)
    return sorted(d for d, n in assignments.items() if n not in alive)


def redistribute(assignments: Assignments, live: Iterable[str]) -> Moves:
    """Move only the orphans, each to the least-loaded survivor: an even spread."""
    return place(orphans(assignments, live), assignments, live)


def rebalance(assignments: Assignments, live: Iterable[str]) -> Moves:
    """The fewest moves that leave every live node within one device of the others.

    Devices of nodes that are not live move too (a rebalance onto a subset of the nodes drains
    the others). The nodes that already hold the most keep the extra devices, so nothing moves
    back and forth; the moved devices are the last ones (by name) of the fullest nodes.
    """
    targets_for = ordered(live)
    if not targets_for:
        raise ValueError("no live node to balance devices over")
    load = loads(assignments, targets_for)
    total = len(assignments)
    base, extra = divmod(total, len(targets_for))
    by_size = sorted(targets_for, key=lambda n: (-load[n], node_key(n)))
    target = {n: base + (1 if i < extra else 0) for i, n in enumerate(by_size)}
    leaving = orphans(assignments, targets_for)
    for n in by_size:
        mine = sorted(d for d, owner in assignments.items() if owner == n)
        leaving += mine[target[n]:]
    have = dict(load)
    moves: Moves = {}
    for dev in leaving:
        src = assignments[dev]
        if src in have:
            have[src] -= 1
        to = max(targets_for, key=lambda n: (target[n] - have[n], -targets_for.index(n)))
        moves[dev] = (src, to)
        have[to] += 1
    return moves


def has_quorum(view: Iterable[str], members: Iterable[str]) -> bool:
    """More than half of the app nodes, or exactly half holding the first of them.

    Two halves of a split cluster can never both have quorum, so they never both reassign
    devices; the tie rule lets a two-node lab survive losing its second node (not its first).
    """
    everyone = ordered(members)
    seen = set(view) & set(everyone)
    if 2 * len(seen) > len(everyone):
        return True
    return 2 * len(seen) == len(everyone) and bool(everyone) and everyone[0] in seen


def coordinator(view: Iterable[str]) -> str | None:
    """The node that makes assignment decisions for a view: its lowest-named member."""
    members = ordered(view)
    return members[0] if members else None


def split(devices: Iterable[str], assignments: Assignments) -> dict[str | None, list[str]]:
    """A job's devices grouped by the node that serves each (one sub-job per group)."""
    groups: dict[str | None, list[str]] = {}
    for dev in devices:
        groups.setdefault(assignments.get(dev), []).append(dev)
    return {n: sorted(d) for n, d in groups.items()}


def apply(assignments: Mapping[str, str | None], moves: Moves) -> dict[str, str | None]:
    out = dict(assignments)
    out.update({d: to for d, (_src, to) in moves.items()})
    return out
