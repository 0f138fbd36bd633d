"""Run the VIP election on one load-balancer node: `python -m labkit.lb.vrrpd --lab L --node N`.

Adverts are small JSON datagrams sent to the lab's network segment, which relays them to the other
load-balancer node and, like a switch learning from gratuitous ARP, delivers VIP traffic to
whichever node last advertised as master. The daemon's own view is written to `vrrp.json` in the
node's directory so `labkit status` can show both routers' opinions, split brain included.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time

from labkit import atomic, events
from labkit.layout import Layout, node_program_args
from labkit.lb import advert
from labkit.lb.election import Advert, Election, State


class VrrpDaemon:
    def __init__(self, layout: Layout, node: str) -> None:
        spec = layout.topology.node(node)
        self.layout = layout
        self.node = node
        self.address = layout.address(node)
        self.election = Election(node, self.address, spec.priority,
                                 layout.topology.vrrp.advert_interval,
                                 layout.topology.vrrp.preempt)
        self.segment = (layout.vip, layout.ports.vrrp)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.address, layout.ports.vrrp))
        self.sock.setblocking(False)
        self.state_path = layout.paths.vrrp(node)
        self.last_state: State | None = None

    def send(self, priority: int | None = None) -> None:
        msg = {"node": self.node, "address": self.address,
               "priority": self.election.priority if priority is None else priority,
               "state": self.election.state.value}
        # if the segment is down nobody hears us, as on a dead LAN
        with contextlib.suppress(OSError):
            self.sock.sendto(advert.sign(self.layout, msg), self.segment)

    def record(self) -> None:
        e = self.election
        now = time.time()
        if e.state != self.last_state:
            why = e.transitions[-1][2] if e.transitions else ""
            events.emit(self.layout.events_path, "vrrp", node=self.node, state=e.state.value,
                        message=f"{self.node} is now {e.state.value.upper()} ({why})")
            self.last_state = e.state
        atomic.write_json(self.state_path, {"node": self.node, "state": e.state.value,
                                            "priority": e.priority, "updated": now,
                                            "master_down_interval": e.master_down_interval})

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if self.election.start(time.monotonic()):
            self.send()
        self.record()
        last_record = 0.0
        while not stop.is_set():
            now = time.monotonic()
            try:
                while True:
                    data, _ = self.sock.recvfrom(2048)
                    self._receive(data)
            except BlockingIOError:
                pass
            if self.election.tick(time.monotonic()):
                self.send()
            if self.election.state != self.last_state or now - last_record > 0.5:
                self.record()
                last_record = now
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.02)
        if self.election.shutdown():
            self.send(priority=0)
        self.record()

    def _receive(self, data: bytes) -> None:
        msg = advert.verify(self.layout, data)
        if msg is None:
            return  # not signed by this lab lately: a stranger's datagram or a replay
        try:
            heard = Advert(str(msg["node"]), str(msg["address"]), int(msg["priority"]))
        except (ValueError, KeyError, TypeError):
            return
        if self.election.on_advert(time.monotonic(), heard):
            self.send()


def main() -> None:
    layout, node = node_program_args(__doc__)
    asyncio.run(VrrpDaemon(layout, node).run())


if __name__ == "__main__":
    main()
