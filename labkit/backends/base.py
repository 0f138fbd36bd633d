"""What a backend does: start a lab's nodes, break them, mend them, and report what runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labkit.components import NodeContext, all_components
from labkit.errors import LabError
from labkit.layout import Layout

if TYPE_CHECKING:
    from labkit.supervisor import Supervisor

FAULT_MODES = ("crash", "freeze", "isolate")
Progress = Callable[[str], None]


class Backend(ABC):
    name: str

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @abstractmethod
    def up(self, progress: Progress) -> None:
        """Start every node's programs (idempotent) and return once they are ready."""

    @abstractmethod
    def down(self, progress: Progress) -> None:
        """Stop everything of the lab; nothing may keep running or listening."""

    @abstractmethod
    def is_running(self) -> bool:
        """True if any part of the lab is running."""

    @abstractmethod
    def node_state(self, node: str) -> str:
        """up | crashed | frozen | isolated | down"""


    @abstractmethod
    def fail(self, node: str, mode: str) -> None: ...

    @abstractmethod
    def fail_service(self, node: str, service: str) -> None: ...

    @abstractmethod
    def recover(self, node: str) -> None: ...

    @abstractmethod
    def vip(self) -> dict[str, Any]:
        """owner (the node the VIP's traffic reaches), claimants, and each LB node's own view."""

    def resources(self, kind: str = "rss") -> dict[str, dict[str, int]]:
        """node → {service: resident bytes} (`rss`, or `pss`: shared pages shared out);
        empty where the backend cannot see processes."""
        return {}

    def service_names(self, node: str) -> list[str]:
        """The supervisor programs the node's roles run, in start order."""
        roles = self.layout.topology.node(node).roles
        return [p for comp in all_components(self.name) if comp.role in roles
                for p in comp.programs]

    def services(self, node: str) -> dict[str, str]:
        """program → state (running, starting, backoff, exited, stopped, frozen, down)."""
        state = self.node_state(node)
        names = self.service_names(node)
        if state in ("crashed", "down"):
            return {n: "down" for n in names}
        if state == "frozen":
            return {n: "frozen" for n in names}
        info = self.supervisor(node).programs()
        return {n: info[n]["statename"].lower() if n in info else "unknown" for n in names}

    def running_service(self, node: str, service: str) -> dict[str, Any]:
        """The supervisor's record of a service `fail NODE/SERVICE` may kill, or a clear error."""
        programs = self.service_names(node)
        state = self.node_state(node)
        if state != "up":
            raise LabError(f"{node} is {state}: its services cannot be failed",
                           f"run `labkit recover {node}` first")
        if service not in programs:
            raise LabError(f"{node} runs no service {service!r}",
                           f"its services are: {', '.join(programs)}")
        info = self.supervisor(node).programs().get(service)
        if not info or not info.get("pid"):
            now = info["statename"] if info else "unknown"
            raise LabError(f"{node}/{service} is not running right now ({now})",
                           "wait for its supervisor to restart it")
        return info

    def recoverable_state(self, node: str) -> str:
        """The state of a broken node `recover` acts on, or a clear error for a node that is not."""
        self.layout.topology.node(node)
        state = self.node_state(node)
        if state == "up":
            raise LabError(f"{node} is up: there is nothing to recover",
                           f"break it first, e.g. `labkit fail {node} --mode crash`")
        if state == "down":
            raise LabError(f"{node} is down because the lab is not running",
                           "start it with `labkit up`")
        return state

    @abstractmethod
    def supervisor(self, node: str) -> Supervisor:
        """The node's supervisord (its socket is in the node's directory on every backend)."""

    def wait_components(self, progress: Progress, nodes: list[str], timeout: float = 180) -> None:
        """Each component's readiness on these nodes, then its cluster-wide `after_up`."""
        for comp in all_components(self.name):
            holders = [n for n in nodes if comp.role in self.layout.topology.node(n).roles]
            for node in holders:
                progress(f"waiting for {type(comp).__name__} on {node}")
                comp.wait_ready(NodeContext(self.layout, node, self._failing(node)), timeout)
            if holders:
                comp.after_up(self.layout, holders)

    def _failing(self, node: str) -> Callable[[str], bool]:
        """A program is failing once its supervisor has held it in BACKOFF (it died before it
        could start: a bad config, a taken port) through about two restarts: waiting longer is
        pointless."""
        sup = self.supervisor(node)
        strikes: dict[str, int] = {}

        def failing(program: str) -> bool:
            state = sup.programs().get(program, {}).get("statename", "")
            if state in ("BACKOFF", "FATAL"):
                strikes[program] = strikes.get(program, 0) + 1
            return strikes.get(program, 0) >= 15  # polled every 0.1 s: 1 s + 2 s of backoff
        return failing
