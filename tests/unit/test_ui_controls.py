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


def test_buttons_are_disabled_while_an_action_runs_and_a_second_one_is_refused():
    """Two clicks that overlapped (a crash while a recover still ran) left the learner unsure
    which won: while one action runs, every action button is disabled and another is refused."""
    import threading

    lab = Lab(None)
    release = threading.Event()
    lab.cut = lambda a, b: (release.wait(5), lab.calls.append(("cut", a, b)))  # type: ignore
    c = Controls(lab)
    first = c.cut_link()
    assert c.actions and all(b.disabled for b in c.actions)
    assert c.heal() is first  # refused: the cut still runs
    assert "not started" in c.message.value and "still running" in c.message.value
    release.set()
    first.join(5)
    assert not any(b.disabled for b in c.actions)
    c.heal(wait=True)
    assert lab.calls == [("cut", "node1", "node3"), ("heal",)]


def test_request_counts_are_zero_filled_so_an_outage_draws_as_zero():
    from labkit.ui.traffic import Traffic

    t = Traffic("http://127.0.0.1:1", ("u", "p"))
    t.answers.extend([(1000.2, "node1"), (1000.7, "node2"), (1003.1, "node1"), (1004.5, "node1")])
    series = t.per_second(now=1005.3)
    assert series["node1"] == [(1000, 1), (1001, 0), (1002, 0), (1003, 1), (1004, 1)]
    assert series["node2"] == [(1000, 1), (1001, 0), (1002, 0), (1003, 0), (1004, 0)]
    assert Traffic("http://127.0.0.1:1", ("u", "p")).per_second() == {}


class DashLab(Lab):
    """What a Dashboard reads besides the controls: a captured status, no events."""

    vip_url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        super().__init__(None)
        import json
        from pathlib import Path

        self.captured = json.loads((Path(__file__).parent / "ui_lab_status.json").read_text())
        self.layout.paths = SimpleNamespace(layout=Path(__file__))
        self.layout.lab = "ui"

    def auth(self) -> tuple[str, str]:
        return ("u", "p")

    def status(self) -> dict:
        return self.captured

    def events(self, since: float = 0) -> list:
        return []


def test_one_dashboard_per_kernel_a_new_one_stops_the_one_before():
    """A re-run cell used to add a second poller (and a second traffic generator)."""
    from labkit.ui.dashboard import Dashboard

    first = Dashboard(DashLab(), interval=0.05)
    first.traffic.start()
    assert first.running and Dashboard.current is first
    second = Dashboard(DashLab(), interval=0.05)
    try:
        assert Dashboard.current is second and second.running
        assert not first.running and not first.traffic.running
        assert "replaced by a newer dashboard" in first.header.value
    finally:
        second.stop()


def test_under_jupyterlab_the_dashboard_docks_beside_the_notebook(monkeypatch):
    """In JupyterLab the dashboard goes into one side panel per kernel (it stays in view while
    the learner scrolls) and the cell says where it went; elsewhere it is shown in the cell."""
    import IPython.display
    from sidecar import Sidecar

    from labkit.ui import dashboard

    shown: list = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: shown.extend(objs))
    monkeypatch.setattr(dashboard, "_panel", None)
    dash = dashboard.Dashboard(DashLab(), start=False)
    try:
        monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
        dash.show()
        assert shown == [dash.widget] and dashboard._panel is None
        shown.clear()
        monkeypatch.setenv("JPY_SESSION_NAME", "/home/learner/01_vip_failover.ipynb")
        dash.show()
        assert isinstance(dashboard._panel, Sidecar)
        assert dash.widget in shown and "docked on the right" in shown[-1].data
        panel = dashboard._panel
        dash.show()
        assert dashboard._panel is panel  # one panel per kernel, reused
    finally:
        dash.stop()
