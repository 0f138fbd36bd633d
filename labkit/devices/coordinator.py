"""Cluster-wide device decisions, taken by one node at a time: the coordinator.

Every app server runs this loop, but only the lowest-named node of a settled membership view
that holds a quorum acts (see `labkit.devices.mediation`). When nodes leave its view it hands
their devices to the survivors, evenly; it re-runs the sub-jobs of nodes that left; and when the
topology asks for automatic rebalance it evens the counts out after a node returns. Every change
is written under MySQL's assignment lock, and every move is an event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from labkit import events
from labkit.appserver.membership import Membership
from labkit.devices import mediation
from labkit.devices.store import Store
from labkit.layout import Layout

log = logging.getLogger("labkit.coordinator")
TICK = 0.5


def apply_moves(layout: Layout, store: Store, node: str, reason: str,
                decide: Callable[[dict[str, str | None]], mediation.Moves]) -> mediation.Moves:
    """Decide moves from the current assignments and write them, under the assignment lock;
    then one event per moved device and one summary event."""
    with store.transaction() as cur:
        moves = decide(store.assignments(cur))
        if moves:
            store.move(cur, moves)
    announce(layout, node, reason, moves)
    return moves


def announce(layout: Layout, node: str, reason: str, moves: mediation.Moves) -> None:
    if not moves:
        return
    for dev, (src, to) in sorted(moves.items()):
        events.emit(layout.events_path, "device_move", device=dev, to=to, reason=reason,
                    by=node, **{"from": src},
                    message=f"{dev}: {src or 'unassigned'} → {to} ({reason})")
    per_dest: dict[str, int] = {}
    for _src, to in moves.values():
        per_dest[to] = per_dest.get(to, 0) + 1
    spread = ", ".join(f"{n} +{k}" for n, k in sorted(per_dest.items(),
                                                         key=lambda kv: mediation.node_key(kv[0])))
    sources = sorted({s for s, _ in moves.values() if s})
    what = f"moved from {', '.join(sources)}" if sources else "placed"
    events.emit(layout.events_path, "devices", reason=reason, by=node, moved=len(moves),
                per_node=per_dest,
                message=f"{len(moves)} device(s) {what} ({reason}): {spread}")


class Coordinator:
    def __init__(self, layout: Layout, node: str, membership: Membership) -> None:
        self.layout = layout
        self.node = node
        self.membership = membership
        self.store = Store(layout)
        self.auto_rebalance = layout.topology.devices.auto_rebalance
        self._stop = threading.Event()
        self._nudge = threading.Event()

    def start(self) -> Coordinator:
        threading.Thread(target=self._run, name=f"coordinator-{self.node}", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._nudge.set()

    def nudge(self) -> None:
        """Act now (the membership view just changed)."""
        self._nudge.set()

    @property
    def acting(self) -> bool:
        m = self.membership
        return m.settled and m.quorum and m.coordinator == self.node

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.acting:
                try:
                    self.tick()
                except Exception as exc:  # noqa: BLE001 - MySQL failing over: next tick
                    log.info("coordinator tick failed: %s", exc)
                    self.store.close()
            self._nudge.wait(TICK)
            self._nudge.clear()

    def tick(self) -> None:
        view = list(self.membership.view)
        assignments = self.store.assignments()
        needed = bool(mediation.orphans(assignments, view))
        counts = mediation.loads(assignments, view)
        uneven = self.auto_rebalance and counts and \
            max(counts.values()) - min(counts.values()) > 1
        if needed:
            left = sorted({n for n in assignments.values() if n not in view and n})
            apply_moves(self.layout, self.store, self.node,
                        f"{', '.join(left) or 'no node'} left the cluster",
                        lambda a: mediation.redistribute(a, view) if self.acting else {})
        elif uneven:
            apply_moves(self.layout, self.store, self.node, "automatic rebalance",
                        lambda a: mediation.rebalance(a, view) if self.acting else {})
        lost = self.store.lose_subjobs(view, self.store.assignments())
        for sj in lost:
            events.emit(self.layout.events_path, "subjob", job=sj["job_id"], subjob=sj["id"],
                        node=sj["node"],
                        message=f"sub-job {sj['job_id']}.{sj['id']} lost with {sj['node']}: "
                                "its remaining devices run again on the survivors")
