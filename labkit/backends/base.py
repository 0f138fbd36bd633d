"""What a backend does: start a lab's nodes, break them, mend them, and report what runs."""

from __future__ import annotations

import contextlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from labkit import atomic, events
from labkit import links as link_faults
from labkit.component import NodeContext, Program, all_components
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.links import LinkFault
from labkit.supervisor import LAB_SUPERVISOR

if TYPE_CHECKING:
    from labkit.supervisor import Supervisor

FAULT_MODES = ("crash", "freeze", "isolate")
Progress = Callable[[str], None]


def node_programs(layout: Layout, node: str, backend: str) -> list[Program]:
    """The programs of a node's roles, configured (files written) for this backend's components:
    what its supervisord runs, on the host, in a namespace or in a container alike."""
    ctx = NodeContext(layout, node)
    roles = layout.topology.node(node).roles
    return [p for comp in all_components(backend) if comp.role in roles
            for p in comp.configure(ctx)]


def lab_wide_programs(layout: Layout, backend: str) -> list[Program]:
    """The lab-wide components' programs (the device fleet), for the lab's own supervisor."""
    ctx = NodeContext(layout, LAB_SUPERVISOR)
    return [p for comp in all_components(backend) if comp.role == "lab"
            for p in comp.configure(ctx)]


class Backend(ABC):
    name: str
    #: how the nodes are networked, for `status` ("loopback", "compose bridge", "netns (root)", ...)
    network: str

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
    def vip(self) -> dict[str, Any]:
        """owner (the node the VIP's traffic reaches), claimants, and each LB node's own view."""

    def lb_views(self) -> dict[str, str]:
        """Each LB node's own VRRP state (master, backup, ...; down when its node is)."""
        views: dict[str, str] = {}
        for n in self.layout.topology.with_role("lb"):
            try:
                views[n.name] = json.loads(self.layout.paths.vrrp(n.name).read_text())["state"]
            except (FileNotFoundError, ValueError, KeyError):
                views[n.name] = "unknown"
            if self.node_state(n.name) in ("crashed", "down"):
                views[n.name] = "down"
        return views

    def vip_summary(self, owner: str | None, claimants: list[str], views: dict[str, str]
                    ) -> dict[str, Any]:
        """What `vip()` answers: a split brain is more than one LB node believing it is master.

        A crashed or stopped node owns nothing, whatever a record written before it died says
        (the local segment keeps its last owner until another node claims the VIP)."""
        dead = {n for n, v in views.items() if v == "down"}
        if owner is not None and (owner in dead or self.node_state(owner) in ("crashed", "down")):
            owner = None
        believers = sorted(n for n, v in views.items() if v == "master")
        return {"owner": owner, "claimants": [n for n in claimants if n not in dead],
                "views": views, "split_brain": len(believers) > 1, "believers": believers}

    def vip_on_the_network(self) -> dict[str, Any]:
        """`vip()` where the VIP is a real address (compose, netns): the owner is whichever
        Apache answers on it (the node whose interface holds it); the claimants are the up nodes
        whose keepalived is VRRP master."""
        views = self.lb_views()
        claimants = [n for n, v in views.items() if v == "master" and self.node_state(n) == "up"]
        return self.vip_summary(self.vip_owner(), claimants, views)

    def vip_owner(self, timeout: float = 0.5) -> str | None:
        """The node whose Apache answers on the VIP right now (where the network delivers it,
        on backends where the VIP is a real address; each Apache names itself in a header)."""
        import httpx

        try:
            r = httpx.head(f"{self.layout.vip_url}/server-status", timeout=timeout)
        except httpx.HTTPError:
            return None
        return r.headers.get("x-labkit-lb")

    def daemons(self) -> list[int]:
        """The lab's own processes that no supervisor of it owns (a rootless netns lab's
        holder), so that checks for orphans know them."""
        return []

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

    # -- faults: the checks and events here, the breaking and mending in each backend ---------
    def fail(self, node: str, mode: str) -> str:
        """Break a whole node (crash | freeze | isolate), or say clearly why it cannot be;
        returns what happened (the fault event's message)."""
        if mode not in FAULT_MODES:
            raise LabError(f"unknown fault mode {mode!r}",
                           f"choose one of: {', '.join(FAULT_MODES)}")
        self.layout.topology.node(node)
        state = self.node_state(node)
        if state != "up":
            raise LabError(f"{node} is already {state}",
                           f"run `labkit recover {node}` first" if state != "down"
                           else "start the lab with `labkit up`")
        t0 = time.time()
        message = self._break(node, mode)
        # stamped when it began: the VRRP takeover it caused must not read as coming first
        events.emit(self.layout.events_path, "fault", node=node, mode=mode, at=t0, ts=t0,
                    message=message)
        return message

    @abstractmethod
    def _break(self, node: str, mode: str) -> str:
        """Apply a checked fault to an up node; returns what happened, for the event."""

    def fail_service(self, node: str, service: str) -> str:
        """Kill one running service; the node's supervisor restarts it. Returns what happened."""
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
        where = self._kill_process_group(node, info["pid"])
        message = (f"{node}/{service} killed (pid {info['pid']}{where}); its supervisor will "
                   "restart it")
        events.emit(self.layout.events_path, "fault", node=node, service=service, mode="kill",
                    message=message)
        return message

    @abstractmethod
    def _kill_process_group(self, node: str, pid: int) -> str:
        """SIGKILL a service's process group (pid as the node's supervisor sees it); returns
        where that pid lives, for the event (e.g. " in its container")."""

    def recover(self, node: str) -> None:
        """Undo whatever fault a node is in, then wait until its components are ready again."""
        self.layout.topology.node(node)
        state = self.node_state(node)
        if state == "up":
            raise LabError(f"{node} is up: there is nothing to recover",
                           f"break it first, e.g. `labkit fail {node} --mode crash`")
        if state == "down":
            raise LabError(f"{node} is down because the lab is not running",
                           "start it with `labkit up`")
        self._mend(node, state)
        events.emit(self.layout.events_path, "recover", node=node, was=state,
                    message=f"{node} recovered (was {state})")
        self.wait_components(lambda _m: None, [node])

    @abstractmethod
    def _mend(self, node: str, state: str) -> None:
        """Undo a node's fault (state crashed | frozen | isolated)."""

    # -- faults on links: checked and recorded here, applied by a backend with a real network --
    #: why this backend cannot put faults on links between nodes (None: it can)
    no_link_faults: str | None = "this backend has no network of its own between its nodes"
    #: how a backend with link faults makes them (`status`'s link_faults), and where a faulty
    #: link's frames are dropped (the events' words)
    link_rules = "real (switch rules)"
    links_dropped = "at the switch"
    #: how a late link's frames are held back (the events' words), or None: this backend
    #: cannot delay frames
    links_delayed: str | None = None
    #: why not, when it cannot (said before anything changes)
    no_delay = "its kernel has no netem and nothing else here holds frames back yet"

    def links(self) -> list[LinkFault]:
        """The link faults in force."""
        return link_faults.read(self.layout.paths.links)

    #: a program of the lab-wide supervisor keeps flapping links in step (`labkit.backends.flapper`)
    has_flapper = False

    def fault_links(self, faults: list[LinkFault], message: str) -> None:
        """Add link faults (a new fault on a direction replaces the one it had), or change
        nothing and say why this backend cannot."""
        if any(f.flap for f in faults) and not self.no_link_faults and not self.has_flapper:
            raise LabError(f"the {self.name} backend cannot flap links yet: nothing would switch "
                           "them up and down", "use `labkit cut` and `labkit heal` by hand")
        if self.no_link_faults:
            raise LabError(f"the {self.name} backend cannot put faults on links: "
                           f"{self.no_link_faults}",
                           "start the lab with `labkit up --backend netns` or "
                           "`--backend compose` for real link faults; `labkit fail NODE --mode "
                           "isolate` works here")
        if any(f.delay for f in faults) and self.links_delayed is None:
            raise LabError(f"the {self.name} backend cannot delay links: {self.no_delay}",
                           "use --loss or --rate here, or a netns lab (`labkit up --backend "
                           "netns`) for --delay")
        if not self.is_running():
            raise LabError("the lab is not running", "start it with `labkit up`")
        kept = [f for f in self.links() if (f.src, f.dst) not in {(n.src, n.dst) for n in faults}]
        self._set_links(kept + faults)
        events.emit(self.layout.events_path, "link", message=message,
                    links=[f.to_dict() for f in faults])

    def heal_links(self) -> list[LinkFault]:
        """Remove every link fault; returns what was in force."""
        was = self.links()
        if was:
            self._set_links([])
            events.emit(self.layout.events_path, "link_heal",
                        message=f"healed {len(was)} link fault(s): every link carries every "
                                "frame again", links=[f.to_dict() for f in was])
        return was

    def _set_links(self, faults: list[LinkFault]) -> None:
        """Put exactly these link faults in force (the backend's rules), then record them."""
        with self._links_locked():
            self._apply_links(link_faults.in_force(faults, time.time()))
            atomic.write_json(self.layout.paths.links, [asdict(f) for f in faults])

    def keep_flapping(self) -> None:
        """Put the rules the recorded faults need now in force (the flapper, at each change)."""
        with self._links_locked():
            self._apply_links(link_faults.in_force(self.links(), time.time()))

    def _links_locked(self) -> contextlib.AbstractContextManager[None]:
        return link_faults.locked(self.layout.paths.links_lock)

    def _apply_links(self, faults: list[LinkFault]) -> None:
        raise LabError(f"the {self.name} backend cannot put faults on links")

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
