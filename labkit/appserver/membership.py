"""The app servers' logical cluster: who is alive, as this node sees it, from heartbeats.

Every app node sends a small UDP heartbeat several times per failure-detection timeout
(`Topology.membership_timeout`); a peer not heard from within the timeout leaves this node's
*view*. Each node has its own view, so during an isolation the views disagree: the cut-off node
sees only itself while the others see everyone but it. Mediation acts on the view (see
`labkit.devices.mediation.has_quorum`).

Transport: UDP multicast where the network carries it (a real LAN), unicast to every peer's
address otherwise. On the local backend all nodes share one loopback, where the lab's isolation
is done per address (nftables drops traffic to and from the isolated node's address), so
heartbeats go unicast from the node's own address and obey the isolation like every other
packet. Without root there is no firewall: then, like the lab's network segment, the receiver
drops heartbeats to or from a node listed as isolated.

The view is written to `<node dir>/membership.json` so `labkit status` can show every node's
view even when that node is unreachable; `GET /api/membership` shows the answering node's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit import atomic, events
from labkit.devices.mediation import coordinator, has_quorum, ordered
from labkit.layout import Layout

#: heartbeats sent per detection timeout: a peer must miss this many in a row to be dropped
BEATS_PER_TIMEOUT = 6
PUBLISH_EVERY = 1.0  #: seconds between rewrites of the view file (status treats 3x as stale)


def transport(layout: Layout) -> str:
    return "multicast" if layout.own_network_stacks else "unicast"


def multicast_group(layout: Layout) -> str:
    """One administratively scoped group per lab, derived from the lab's /24."""
    _, b, c = layout.prefix.split(".")
    return f"239.{int(b)}.{int(c)}.1"


def view_path(layout: Layout, node: str) -> Path:
    return layout.paths.membership(node)


def read_view(layout: Layout, node: str) -> dict[str, Any] | None:
    try:
        return json.loads(view_path(layout, node).read_text())
    except (FileNotFoundError, ValueError):
        return None


class Isolation:
    """The lab's isolated nodes (local backend): their heartbeats are dropped here. Where
    nftables also cuts them this is a second cut of the same packets, never a different view."""

    def __init__(self, path: Path) -> None:
        self.path = path  # `RunDir.isolated`, written by the local backend
        self.nodes: set[str] = set()
        self._mtime = 0.0

    def cut(self, a: str, b: str) -> bool:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        if mtime != self._mtime:
            self._mtime = mtime
            with contextlib.suppress(ValueError, OSError):
                self.nodes = set(json.loads(self.path.read_text()))
        return a in self.nodes or b in self.nodes


class Membership:
    """Heartbeat sender, receiver and view of one node (a daemon thread)."""

    def __init__(self, layout: Layout, node: str,
                 on_change: Callable[[list[str]], None] | None = None) -> None:
        self.layout = layout
        self.node = node
        self.members = ordered(n.name for n in layout.topology.with_role("app"))
        self.timeout = layout.topology.membership_timeout
        self.interval = self.timeout / BEATS_PER_TIMEOUT
        self.mode = transport(layout)
        self.incarnation = time.time()
        self.heard: dict[str, float] = {}  # peer → monotonic time of its last heartbeat
        self.peer_views: dict[str, list[str]] = {}
        self.view: list[str] = [node]
        self.changed = time.time()
        self.on_change = on_change or (lambda _view: None)
        #: called (on the heartbeat thread) with what a peer nudged this node about (`nudge`)
        self.on_nudge: Callable[[str], None] = lambda _what: None
        self.isolation = Isolation(layout.paths.isolated)
        self._seq = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._published = 0.0
        self._publish_lock = threading.Lock()
        self._last_loop = time.monotonic()
        #: until then, absence of heartbeats proves nothing (just started, or just un-frozen)
        self.grace_until = time.monotonic() + self.timeout

    # -- sockets ------------------------------------------------------------------------------
    def _open(self) -> socket.socket:
        addr, port = self.layout.address(self.node), self.layout.ports.heartbeat
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.mode == "multicast":
            group = multicast_group(self.layout)
            s.bind((group, port))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                         socket.inet_aton(group) + socket.inet_aton(addr))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, struct.pack("b", 1))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        else:
            s.bind((addr, port))
        s.settimeout(self.interval / 2)
        return s

    def _targets(self) -> list[tuple[str, int]]:
        port = self.layout.ports.heartbeat
        if self.mode == "multicast":
            return [(multicast_group(self.layout), port)]
        return [(self.layout.address(p), port) for p in self.members if p != self.node]

    # -- the loop -----------------------------------------------------------------------------
    def start(self) -> Membership:
        self._sock = self._open()
        threading.Thread(target=self._run, name=f"membership-{self.node}", daemon=True).start()
        self._publish()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        assert self._sock is not None
        next_beat = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_beat:
                self._beat()
                next_beat = now + self.interval
            with contextlib.suppress(TimeoutError, BlockingIOError, OSError):
                data, _addr = self._sock.recvfrom(2048)
                self.receive(data)
            self._update()
        self._sock.close()

    def _beat(self) -> None:
        if self.isolation.cut(self.node, self.node):
            return  # an isolated node's frames never leave it
        self._seq += 1
        msg = json.dumps({"node": self.node, "inc": self.incarnation, "seq": self._seq,
                          "view": self.view}).encode()
        for target in self._targets():
            with contextlib.suppress(OSError):  # a dropped heartbeat is what we model
                assert self._sock is not None
                self._sock.sendto(msg, target)

    def nudge(self, what: str) -> None:
        """Tell every peer at once that there is news (`"jobs"`: sub-jobs queued for them), on
        the heartbeats' own path, so it obeys an isolation like they do. Best effort: a peer
        that misses it finds the news on its next look anyway."""
        if self._sock is None or self.isolation.cut(self.node, self.node):
            return
        msg = json.dumps({"node": self.node, "nudge": what}).encode()
        for target in self._targets():
            with contextlib.suppress(OSError):
                self._sock.sendto(msg, target)

    def receive(self, data: bytes) -> None:
        try:
            msg = json.loads(data)
            sender = str(msg["node"])
        except (ValueError, KeyError, TypeError):
            return
        if sender == self.node or sender not in self.members:
            return
        if self.isolation.cut(sender, self.node):
            return
        if "nudge" in msg:  # news, not a heartbeat: it says nothing of the view
            self.on_nudge(str(msg["nudge"]))
            return
        with self._lock:
            self.heard[sender] = time.monotonic()
            if isinstance(msg.get("view"), list):
                self.peer_views[sender] = [str(v) for v in msg["view"]]

    def _update(self) -> None:
        now = time.monotonic()
        if now - self._last_loop > self.timeout / 2:
            self._stalled(now)
        self._last_loop = now
        with self._lock:
            view = ordered([self.node, *(p for p, t in self.heard.items()
                                         if now - t <= self.timeout)])
        if view != self.view:
            had_quorum = self.quorum
            old, self.view, self.changed = self.view, view, time.time()
            if self.quorum and not had_quorum:
                # back from isolation (or just started): the view fills one heartbeat at a
                # time, and a peer not heard from *yet* has not left; wait before judging
                self.grace_until = now + self.timeout
            joined = [n for n in view if n not in old]
            left = [n for n in old if n not in view]
            parts = ([f"{', '.join(joined)} joined"] if joined else []) + \
                    ([f"{', '.join(left)} left"] if left else [])
            events.emit(self.layout.events_path, "membership", node=self.node, view=view,
                        joined=joined, left=left,
                        message=f"{self.node} sees {{{', '.join(view)}}}: {'; '.join(parts)}")
            self.on_change(view)
            self._publish()
        elif time.time() - self._published > PUBLISH_EVERY:
            self._publish()

    def _stalled(self, now: float) -> None:
        """This node itself stood still (frozen, starved): it heard nothing, which proves
        nothing. Peers in the view keep the benefit of the doubt for one more timeout, and
        decisions wait until then."""
        with self._lock:
            for peer in self.view:
                if peer != self.node:
                    self.heard[peer] = now
        self.grace_until = now + self.timeout

    @property
    def settled(self) -> bool:
        """True once this node has listened for a whole timeout since it started, last stood
        still, or last regained a quorum: only then does a missing peer mean a dead one."""
        return time.monotonic() >= self.grace_until

    def _publish(self) -> None:
        with self._publish_lock:  # the starting thread and the heartbeat thread both publish
            self._published = time.time()
            path = view_path(self.layout, self.node)
            atomic.write_json(path, self.snapshot())

    # -- looking ------------------------------------------------------------------------------
    @property
    def quorum(self) -> bool:
        return has_quorum(self.view, self.members)

    @property
    def coordinator(self) -> str | None:
        return coordinator(self.view)

    def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        return {"node": self.node, "view": self.view, "members": self.members,
                "quorum": self.quorum, "coordinator": self.coordinator, "settled": self.settled,
                "transport": self.mode,
                "timeout": self.timeout, "interval": self.interval, "since": self.changed,
                "last_heard": {p: round(now - t, 3) for p, t in sorted(self.heard.items())},
                "updated": time.time(), "pid": os.getpid()}
