"""The dashboard's link controls call the same verbs as the CLI, and a backend without link
faults shows why instead of buttons that could only fail."""

from __future__ import annotations

from types import SimpleNamespace

import ipywidgets as widgets

from labkit.errors import LabError
from labkit.ui.controls import Controls


class Lab:
    """Just what Controls reads and calls: the verbs are recorded, not run."""

    def __init__(self, no_link_faults: str | None) -> None:
        self.layout = SimpleNamespace(nodes=[SimpleNamespace(name=f"node{i}") for i in (1, 2, 3)])
        self.backend = SimpleNamespace(name="netns" if no_link_faults is None else "local",
                                       no_link_faults=no_link_faults)
        self.calls: list[tuple] = []

    def status(self) -> dict:
        return {"nodes": [{"name": n.name, "state": "up", "services": {"app": "running"}}
                          for n in self.layout.nodes]}

    def cut(self, a: str, b: str) -> None:
        self.calls.append(("cut", a, b))

    def partition(self, sides: str) -> None:
        if "/" not in sides:
            raise LabError(f"a partition needs two sides or more (got {sides!r})")
        self.calls.append(("partition", sides))

    def heal(self) -> list:
        self.calls.append(("heal",))
        return []


def test_the_link_row_cuts_partitions_and_heals():
    lab = Lab(None)
    c = Controls(lab)
    c.link_a.value, c.link_b.value = "node1", "node3"
    c.cut_link(wait=True)
    c.sides.value = "node1 / node2,node3"
    c.partition(wait=True)
    c.heal(wait=True)
    assert lab.calls == [("cut", "node1", "node3"), ("partition", "node1 / node2,node3"),
                         ("heal",)]
    c.sides.value = "node1"
    c.partition(wait=True)
    assert "two sides" in c.message.value  # the lab's own error, in red, not a traceback


def test_a_backend_without_link_faults_says_why():
    c = Controls(Lab("its nodes share the host's loopback"))
    row = c.widget.children[-2]
    assert isinstance(row, widgets.HTML) and "share the host's loopback" in row.value
    assert not hasattr(c, "link_a")
