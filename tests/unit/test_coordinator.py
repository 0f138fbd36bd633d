"""The coordinator's decisions on an in-memory copy of the assignment table: who acts, what
moves, and automatic rebalance only when the topology asks for it."""

from __future__ import annotations

import contextlib
import dataclasses
from types import SimpleNamespace

import pytest

from labkit.devices import device_names
from labkit.devices.coordinator import Coordinator
from labkit.layout import Layout
from labkit.topology import DevicesSpec, Topology

APPS = ["node1", "node2", "node3", "node4"]


class TableStore:
    """Just the assignment table: what `Store` keeps in MySQL."""

    def __init__(self, assignments: dict[str, str]) -> None:
        self.table = dict(assignments)
        self.writes = 0

    def assignments(self, cur=None) -> dict[str, str]:
        return dict(self.table)

    @contextlib.contextmanager
    def transaction(self):
        yield None

    def move(self, cur, moves) -> None:
        self.writes += 1
        self.table.update({d: to for d, (_src, to) in moves.items()})

    def lose_subjobs(self, live, assignments) -> list:
        return []


def coordinator(auto: bool, view: list[str], node: str = "node1", settled: bool = True,
                table: dict[str, str] | None = None) -> Coordinator:
    topo = dataclasses.replace(Topology.default(4), devices=DevicesSpec(100, 0, auto))
    layout = Layout(lab="coordinator-test", topology=topo, prefix="127.0.0")
    member = SimpleNamespace(view=view, quorum=len(view) > 2 or "node1" in view,
                             settled=settled, coordinator=min(view))
    c = Coordinator(layout, node, member)  # type: ignore[arg-type]
    c.store = TableStore(table or {d: APPS[i % 4] for i, d in enumerate(device_names(100))})
    return c


def counts(c: Coordinator) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in c.store.table.values():
        out[n] = out.get(n, 0) + 1
    return out


def test_only_the_settled_lowest_node_of_a_quorum_acts():
    assert coordinator(False, APPS).acting
    assert not coordinator(False, APPS, node="node2").acting
    assert not coordinator(False, APPS, settled=False).acting
    assert not coordinator(False, ["node3"], node="node3").acting  # a minority of one


def test_a_dead_nodes_devices_go_to_the_survivors():
    c = coordinator(False, ["node1", "node2", "node4"])
    c.tick()
    assert sorted(counts(c).values()) == [33, 33, 34] and "node3" not in counts(c)


@pytest.mark.parametrize("auto, expected", [(False, [0, 33, 33, 34]), (True, [25, 25, 25, 25])])
def test_a_returning_node_is_filled_only_with_automatic_rebalance(auto, expected):
    c = coordinator(auto, ["node1", "node2", "node4"])
    c.tick()
    c.membership.view = APPS  # node3 is back
    c.tick()
    c.tick()
    assert sorted(counts(c).get(n, 0) for n in APPS) == expected
