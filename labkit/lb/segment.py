"""The lab's LAN on the local backend: where the VIP really lives.

All local nodes share one kernel, so a frozen node would keep its sockets forever and no peer could
bind the VIP after it: unlike a real LAN, nothing would redirect traffic. This process plays the
switch. It listens on VIP:http/https and delivers each client connection to the load-balancer node
that last advertised itself as VRRP master, exactly as a switch follows the gratuitous ARP of a new
master. It also relays the election adverts between the LB nodes, dropping those of isolated nodes.

Run as `python -m labkit.lb.segment --lab NAME` under the lab's own supervisor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

import uvloop

from labkit import atomic, events
from labkit.layout import Layout, RunDir
from labkit.lb import advert


class Segment:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.owner: str | None = None
        self.claims: dict[str, float] = {}  # node → time of its last master advert
        self.isolated: set[str] = set()
        self._isolated_mtime = 0.0
        self.state_path = layout.paths.segment
        self.transport: asyncio.DatagramTransport | None = None
        self.lb_nodes = [n.name for n in layout.topology.with_role("lb")]

    # -- isolation ----------------------------------------------------------------------------
    def refresh_isolation(self) -> None:
        path = self.layout.paths.isolated
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            self.isolated = set()
            return
        if mtime != self._isolated_mtime:
            self._isolated_mtime = mtime
            with contextlib.suppress(ValueError, OSError):
                self.isolated = set(json.loads(path.read_text()))

    # -- election adverts ---------------------------------------------------------------------
    def on_advert(self, data: bytes, source: str | None = None) -> None:
        """An advert from `source` (its address): forwarded to the other LB nodes and followed,
        if this lab's key signed it lately and it comes from the node it names."""
        msg = advert.verify(self.layout, data)
        if msg is None:
            return  # not signed by this lab, or a replay: a stranger's datagram
        try:
            sender, priority, state = str(msg["node"]), int(msg["priority"]), str(msg["state"])
        except (ValueError, KeyError, TypeError):
            return
        if sender not in self.lb_nodes or sender in self.isolated:
            return  # an isolated node's frames never leave its port
        if source is not None and source != self.layout.address(sender):
            return  # a signed advert, replayed from elsewhere
        for peer in self.lb_nodes:
            if peer != sender and peer not in self.isolated and self.transport:
                self.transport.sendto(data, (self.layout.address(peer), self.layout.ports.vrrp))
        if priority == 0 and self.owner == sender:
            self._move(None, f"{sender} resigned the VIP")
        elif state == "master" and priority > 0:
            self.claims[sender] = time.time()
            if self.owner != sender:
                self._move(sender, f"{sender} announced itself master")

    def _move(self, new: str | None, why: str) -> None:
        old, self.owner = self.owner, new
        events.emit(self.layout.events_path, "vip", owner=new, previous=old,
                    message=f"VIP {self.layout.vip} now delivered to {new or 'nobody'} ({why})")
        self.write_state()

    def write_state(self) -> None:
        window = 3 * self.layout.topology.vrrp.advert_interval + 1.0
        now = time.time()
        claimants = sorted(n for n, t in self.claims.items() if now - t <= window)
        state = {"owner": self.owner, "claimants": claimants, "isolated": sorted(self.isolated),
                 "updated": now}
        atomic.write_json(self.state_path, state)

    # -- client traffic -----------------------------------------------------------------------
    async def on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        port: int) -> None:
        owner = self.owner
        if owner is None or owner in self.isolated:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(self.layout.address(owner), port), timeout=2)
        except (OSError, asyncio.TimeoutError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _AdvertProtocol(self), local_addr=(self.layout.vip, self.layout.ports.vrrp))
        servers = []
        for port in (self.layout.ports.http, self.layout.ports.https):
            servers.append(await asyncio.start_server(
                lambda r, w, p=port: self.on_client(r, w, p), self.layout.vip, port,
                reuse_address=True, backlog=512))
        while not stop.is_set():
            self.refresh_isolation()
            self.write_state()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)
        for s in servers:
            s.close()
        self.transport.close()


class _AdvertProtocol(asyncio.DatagramProtocol):
    def __init__(self, segment: Segment) -> None:
        self.segment = segment

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.segment.on_advert(data, addr[0])


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def read_state(rundir: Path) -> dict:
    """The segment's last published state (owner of the VIP and who claims it)."""
    try:
        return json.loads(RunDir(rundir).segment.read_text())
    except (FileNotFoundError, ValueError):
        return {"owner": None, "claimants": [], "isolated": [], "updated": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    args = parser.parse_args()
    # uvloop: every byte through the VIP crosses this process twice (client to Apache and
    # back), and uvloop's streams cost less per request than asyncio's own loop
    uvloop.run(Segment(Layout.load(args.lab)).run())


if __name__ == "__main__":
    main()
