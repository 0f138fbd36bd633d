"""Buttons that break and heal the lab: crash/freeze/isolate/recover per node, fail per service,
cut a link or partition the lab (where the backend can), and the traffic generator's switch,
rate and stickiness.

Every action runs in its own thread, so a slow recover never blocks the learner's next cell.
While one runs, every action button is disabled and a second action is refused with a sentence:
two clicks that overlapped (crash while a recover still ran) left the learner unsure which won.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from labkit.errors import LabError
from labkit.ui.traffic import Traffic

if TYPE_CHECKING:
    from labkit.cluster import Cluster

NODE_ACTIONS = ("crash", "freeze", "isolate", "recover")
_STYLE = {"crash": "danger", "freeze": "info", "isolate": "warning", "recover": "success"}


class Controls:
    """`.widget` to display; `.buttons[(node, action)]` and `.press(...)` for code and tests."""

    def __init__(self, cluster: Cluster, traffic: Traffic | None = None) -> None:
        self.cluster = cluster
        self.traffic = traffic
        self.message = widgets.HTML("")
        self.message.add_class("labkit-message")
        self.buttons: dict[tuple[str, str], widgets.Button] = {}
        self.actions: list[widgets.Button] = []  # every button that starts an action
        self.running: threading.Thread | None = None
        self._busy = threading.Lock()
        self.node_labels: dict[str, widgets.HTML] = {}
        rows = [self._node_row(n.name) for n in cluster.layout.nodes]
        self.service = widgets.Dropdown(options=self._services(), description="service",
                                        layout={"width": "260px"})
        fail_service = widgets.Button(description="fail service", button_style="danger")
        fail_service.add_class("labkit-fail-service")
        self.actions.append(fail_service)
        fail_service.on_click(lambda _b: self._act(f"fail {self.service.value}",
                                                   lambda: cluster.fail(self.service.value)))
        parts: list[Any] = [*rows, widgets.HBox([self.service, fail_service]), self._link_row()]
        if traffic is not None:
            parts.append(self._traffic_row(traffic))
        self.widget = widgets.VBox([*parts, self.message])

    def _node_row(self, node: str) -> widgets.HBox:
        label = widgets.HTML(f"<b>{node}</b>", layout={"width": "130px"})
        self.node_labels[node] = label
        items: list[Any] = [label]
        for action in NODE_ACTIONS:
            b = widgets.Button(description=action, button_style=_STYLE[action],
                               layout={"width": "80px"}, tooltip=f"{action} {node}")
            b.add_class(f"labkit-{action}-{node}")
            b.on_click(lambda _b, n=node, a=action: self.press(n, a))
            self.buttons[(node, action)] = b
            self.actions.append(b)
            items.append(b)
        return widgets.HBox(items)

    def _link_row(self) -> widgets.Widget:
        """Cut one link, partition the lab, heal every link: the verbs of `labkit cut`,
        `partition` and `heal`. A backend without link faults says so instead."""
        why = self.cluster.backend.no_link_faults
        if why:
            return widgets.HTML(f"<i>link faults: not on the {self.cluster.backend.name} "
                                f"backend ({why})</i>")
        names = [n.name for n in self.cluster.layout.nodes]
        self.link_a = widgets.Dropdown(options=names, value=names[0], description="link",
                                       layout={"width": "180px"})
        self.link_b = widgets.Dropdown(options=names, value=names[-1], layout={"width": "100px"})
        self.sides = widgets.Text(placeholder="node1 / node2,node3", description="partition",
                                  layout={"width": "260px"})
        buttons = {"cut": self.cut_link, "partition": self.partition, "heal links": self.heal}
        row: list[Any] = [self.link_a, self.link_b]
        for label, action in buttons.items():
            b = widgets.Button(description=label, layout={"width": "90px"},
                               button_style="success" if label == "heal links" else "warning")
            b.add_class(f"labkit-{label.replace(' ', '-')}")
            b.on_click(lambda _b, act=action: act())
            self.actions.append(b)
            if label == "partition":
                row.append(self.sides)
            row.append(b)
        return widgets.HBox(row)

    def cut_link(self, wait: bool = False) -> threading.Thread:
        a, b = self.link_a.value, self.link_b.value
        return self._act(f"cut {a} ↔ {b}", lambda: self.cluster.cut(a, b), wait)

    def partition(self, wait: bool = False) -> threading.Thread:
        sides = self.sides.value
        return self._act(f"partition {sides}", lambda: self.cluster.partition(sides), wait)

    def heal(self, wait: bool = False) -> threading.Thread:
        return self._act("heal links", lambda: self.cluster.heal(), wait)

    def _services(self) -> list[str]:
        st = self.cluster.status()
        return [f"{n['name']}/{s}" for n in st["nodes"] for s in n["services"]]

    def _traffic_row(self, traffic: Traffic) -> widgets.HBox:
        self.traffic_on = widgets.ToggleButton(value=traffic.running, description="traffic",
                                               icon="play")
        self.traffic_on.add_class("labkit-traffic")
        self.rate = widgets.FloatSlider(value=traffic.rate, min=1, max=50, step=1,
                                        description="req/s")
        self.sticky = widgets.Checkbox(value=traffic.sticky, description="sticky session")

        def on_toggle(change: dict) -> None:
            traffic.start() if change["new"] else traffic.stop()

        self.traffic_on.observe(on_toggle, "value")
        self.rate.observe(lambda c: setattr(traffic, "rate", c["new"]), "value")
        self.sticky.observe(lambda c: setattr(traffic, "sticky", c["new"]), "value")
        return widgets.HBox([self.traffic_on, self.rate, self.sticky])

    def press(self, node: str, action: str, wait: bool = False) -> threading.Thread:
        """What a click does: `crash|freeze|isolate` the node, or `recover` it."""
        if action == "recover":
            work: Callable[[], None] = lambda: self.cluster.recover(node)  # noqa: E731
        else:
            work = lambda: self.cluster.fail(node, action)  # noqa: E731
        return self._act(f"{action} {node}", work, wait)

    def _act(self, what: str, work: Callable[[], None], wait: bool = False) -> threading.Thread:
        """Run `work` in a thread with every action button disabled until it ends; while another
        action runs, refuse with a sentence and return the running one's thread."""
        with self._busy:
            running = self.running
            if running is not None and running.is_alive():
                self.message.value = (f"{what}: not started, {running.name.removeprefix('labkit-')}"
                                      " is still running; wait for it to finish")
                if wait:
                    running.join()
                return running
            self.message.value = f"{what}…"
            self._enable(False)
            t = threading.Thread(target=self._run_action, args=(what, work),
                                 name=f"labkit-{what}", daemon=True)
            self.running = t
            t.start()
        if wait:
            t.join()
        return t

    def _run_action(self, what: str, work: Callable[[], None]) -> None:
        try:
            work()
            self.message.value = f"{what}: done"
        except LabError as exc:
            self.message.value = f"<span style='color:#d62728'>{exc.message}</span>"
        except Exception as exc:  # noqa: BLE001 - a button must never kill the dashboard
            self.message.value = f"<span style='color:#d62728'>{what}: {exc}</span>"
        finally:
            self._enable(True)

    def _enable(self, on: bool) -> None:
        for b in self.actions:
            b.disabled = not on

    def update(self, status: dict[str, Any]) -> None:
        """Show each node's state beside its name (only writes labels whose text changed)."""
        for n in status.get("nodes", []):
            label = self.node_labels.get(n["name"])
            text = f"<b>{n['name']}</b> {n['state']}"
            if label is not None and label.value != text:
                label.value = text
