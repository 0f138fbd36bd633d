"""This node's device mediation: one persistent NETCONF session per device assigned to it.

The mediator reconciles twice a second: it reads which devices MySQL assigns to this node,
connects to those it has no session with (a few handshakes at a time, retrying with back-off)
and closes sessions to devices no longer assigned to it. Session changes are written back to
MySQL (`devices.session_node`), so any node can tell which devices are connected: all of a
tick's changes in one transaction, so a thousand new sessions cost a few commits, not a
thousand (each commit waits for the semi-synchronous replica). A device's model is asked once,
on its first session; a reconnection after a crash then costs the SSH handshake alone.

Split views: a node whose membership view holds no quorum (it is cut off, or alone) closes all
its sessions, because the majority side will hand its devices to survivors at the same
detection timeout; so a device is mediated by two nodes at once only for the few seconds an
isolated node needs to notice, and never by two nodes that both own it in MySQL: only a node
whose view holds a quorum writes assignments (discovery, rebalance and the coordinator all
refuse otherwise), and a session is recorded only for the device's assigned node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncssh

from labkit import devices, events
from labkit.appserver.membership import Membership
from labkit.devices import config
from labkit.devices.netconf import NetconfClient, RpcError
from labkit.devices.store import Store
from labkit.layout import Layout

log = logging.getLogger("labkit.mediator")
TICK = 0.5  #: seconds between reconciliations
#: just after the view changed, look this often: the coordinator hands a dead node's devices
#: out within moments of the same change, and waiting a whole TICK for them would add to
#: every reconnection
QUICK_TICK = 0.1
QUICK_FOR = 2.0  #: seconds after a view change that the mediator looks at QUICK_TICK
HANDSHAKES = 32  #: SSH handshakes in flight at once (CPU-bound work on a small machine)
MAX_BACKOFF = 3.0
#: a job may reach this node before the assignment it follows: look for that long first
NOT_MINE_AFTER = 4 * TICK
SESSION_ERRORS = (OSError, asyncssh.Error, asyncio.TimeoutError, ConnectionError, RpcError,
                  ValueError)


def next_look(since_view_change: float) -> float:
    """Seconds until the next reconciliation, `since_view_change` seconds after the view
    last changed."""
    return QUICK_TICK if 0 <= since_view_change < QUICK_FOR else TICK


class NotServedHere(Exception):
    """The device is not (or no longer) mediated by this node."""


class Mediator:
    def __init__(self, layout: Layout, node: str, membership: Membership) -> None:
        self.layout = layout
        self.node = node
        self.membership = membership
        self.store = Store(layout)
        self.sessions: dict[str, NetconfClient] = {}
        self.connecting: dict[str, asyncio.Task] = {}
        self.retry_at: dict[str, tuple[float, float]] = {}  # device → (time, back-off)
        self.assigned: dict[str, str | None] = {}  # device → its model as MySQL knows it
        self.db_ok = False
        self._up: dict[str, dict[str, Any]] = {}
        self._down: set[str] = set()
        self._lost: list[str] = []
        self._wake = asyncio.Event()
        self._handshakes = asyncio.Semaphore(HANDSHAKES)
        self._key = devices.public_host_key(layout)
        self._password = devices.password(layout)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive any one bad tick
                log.exception("mediator tick failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(),
                                       next_look(time.time() - self.membership.changed))
            self._wake.clear()

    async def tick(self) -> None:
        if not self.membership.quorum:
            wanted: dict[str, str | None] = {}  # a minority lets go (see module docstring)
        else:
            try:
                wanted = await asyncio.to_thread(self.store.mine, self.node)
                self.db_ok = True
            except Exception as exc:  # noqa: BLE001 - MySQL failing over: keep what we have
                if self.db_ok:
                    log.warning("cannot read assignments (%s); keeping current sessions", exc)
                self.db_ok = False
                wanted = self.assigned
        self.assigned = wanted
        for dev in [d for d in self.sessions if d not in wanted]:
            client = self.sessions.pop(dev)
            self._up.pop(dev, None)
            self._down.add(dev)
            asyncio.ensure_future(client.close())
        for dev in [d for d in self.connecting if d not in wanted]:
            self.connecting.pop(dev).cancel()
        now = time.monotonic()
        for dev in sorted(wanted):
            if dev in self.sessions or dev in self.connecting:
                continue
            if self.retry_at.get(dev, (0.0, 0.0))[0] > now:
                continue
            self.connecting[dev] = asyncio.ensure_future(self._connect(dev))
        await self._flush()

    async def _connect(self, dev: str) -> None:
        try:
            async with self._handshakes:
                client = await NetconfClient.connect(
                    self.layout.fleet_address, devices.device_port(self.layout, dev),
                    devices.USER, self._password, self._key, timeout=10,
                    source=self.layout.address(self.node))
            model = self.assigned.get(dev) or await self._model(client)
        except SESSION_ERRORS as exc:
            self._backoff(dev)
            log.info("cannot reach %s: %s", dev, exc)
            return
        finally:
            self.connecting.pop(dev, None)
        if dev not in self.assigned:
            await client.close()
            return
        self.retry_at.pop(dev, None)
        self.sessions[dev] = client
        self._down.discard(dev)
        self._up[dev] = {"since": time.time(), "framing": client.framing, "model": model}
        asyncio.ensure_future(self._watch(dev, client))
        self.wake()

    @staticmethod
    async def _model(client: NetconfClient) -> str | None:
        """Ask a device its model once (MySQL keeps it): a reconnection after a crash then
        costs the handshake alone, not a round trip and an XML reply more per device."""
        try:
            info = await client.rpc("<get-software-information/>", timeout=10)
        except SESSION_ERRORS:
            return None
        return next((e.text for e in info.iter() if config.local(e.tag) == "product-model"),
                    None)

    def _backoff(self, dev: str) -> None:
        _, last = self.retry_at.get(dev, (0.0, 0.25))
        delay = min(MAX_BACKOFF, last * 2)
        self.retry_at[dev] = (time.monotonic() + delay, delay)

    async def _watch(self, dev: str, client: NetconfClient) -> None:
        """Notice a session the device (or the network) closed, and reconnect."""
        await client.wait_closed()
        if self.sessions.get(dev) is client:
            del self.sessions[dev]
            self._up.pop(dev, None)
            self._down.add(dev)
            self._lost.append(dev)
            self._backoff(dev)
            self.wake()

    async def _flush(self) -> None:
        """Write session changes to MySQL; keep them for the next tick if it is unreachable."""
        if self._lost:
            lost, self._lost = self._lost, []
            events.emit(self.layout.events_path, "devices", node=self.node, lost=lost,
                        message=f"{self.node} lost its session to {len(lost)} device(s): "
                                f"{', '.join(sorted(lost)[:8])}{' …' if len(lost) > 8 else ''}")
        if not (self._up or self._down):
            return
        up, down = dict(self._up), set(self._down)
        try:
            await asyncio.to_thread(self.store.report_sessions, self.node, up, sorted(down))
        except Exception as exc:  # noqa: BLE001 - retried next tick
            log.info("cannot record sessions yet: %s", exc)
            return
        for dev in up:
            if self._up.get(dev) is up[dev]:
                del self._up[dev]
        self._down -= down

    # -- used by the job runner ---------------------------------------------------------------
    async def resync(self, dev: str, wait: float = 15.0) -> str:
        """Fetch the device's running configuration over this node's session; its digest."""
        t0 = time.monotonic()
        deadline = t0 + wait
        if dev not in self.assigned:
            self.wake()  # the assignment may be newer than this node's last look
        while True:
            client = self.sessions.get(dev)
            if client is not None:
                try:
                    return config.digest(await client.get_config())
                except SESSION_ERRORS as exc:
                    log.info("resync of %s failed once: %s", dev, exc)
            if dev not in self.assigned and time.monotonic() - t0 > NOT_MINE_AFTER:
                raise NotServedHere(f"{dev} is not mediated by {self.node}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no session to {dev} on {self.node} within {wait:.0f}s")
            await asyncio.sleep(0.2)

    def snapshot(self) -> dict[str, Any]:
        return {"node": self.node, "assigned": len(self.assigned), "sessions": len(self.sessions),
                "connecting": len(self.connecting), "devices": sorted(self.sessions),
                "database": self.db_ok, "quorum": self.membership.quorum}

    async def close(self) -> None:
        for task in self.connecting.values():
            task.cancel()
        for client in self.sessions.values():
            client.abort()
        self.sessions.clear()
