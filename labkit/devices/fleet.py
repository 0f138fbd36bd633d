"""The device fleet: many simulated Junos devices in one asyncio process.

Every device is its own SSH endpoint (one listening port each on the fleet address) speaking
NETCONF as a Junos router speaks it: hello with capabilities, get-config (subtree filters),
lock/unlock, edit-config to the candidate, validate, commit, discard-changes, and Junos' own
get-configuration, lock-configuration, commit-configuration, get-software-information,
get-system-information and `<command>show version</command>`. What it does not do it refuses with
an RFC 6241 <rpc-error> and the session goes on. Each answer waits the device's response
latency first. A device can be failed (its listener closes and its sessions drop, as when it
loses power) and comes back when restored, or by itself after a given time.

A small control socket (JSON lines on a unix socket in the run directory) lets the lab fail and
restore devices, change latencies and read each device's sessions and RPC counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import json
import logging
import os
import resource
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import asyncssh

from labkit.devices import USER, config, device_name, junos
from labkit.devices.framing import BASE_10, BASE_11
from labkit.devices.netconf import (
    CANDIDATE,
    JUNOS_CAP,
    JUNOS_DMI,
    VALIDATE,
    Channel,
    error_body,
    serve,
)

log = logging.getLogger("labkit.fleet")
#: every this-many-th device is an older release that speaks only NETCONF 1.0 framing
LEGACY_EVERY = 5


class Device:
    """One simulated device: its datastores, locks, sessions and counters."""

    def __init__(self, index: int, port: int, latency: float) -> None:
        self.index = index
        self.name = device_name(index)
        self.port = port
        self.latency = latency
        self.running = config.initial(self.name, index)
        self.candidate = copy.deepcopy(self.running)
        self.locks: dict[str, int] = {}
        self.sessions: dict[int, str] = {}  # session id → peer address
        self.conns: set[asyncssh.SSHServerConnection] = set()
        self.rpcs: Counter[str] = Counter()
        self.commits = 0
        self.committed_at = time.time()
        self.history: list[dict[str, Any]] = []  # each commit: when, by which session, its log
        self.dirty_by: int | None = None  # the session whose edits the candidate holds
        self.up = False
        self.restore_at: float | None = None
        self.server: asyncssh.SSHAcceptor | None = None
        self._sids = 0

    @property
    def legacy(self) -> bool:
        return self.index % LEGACY_EVERY == 0

    @property
    def capabilities(self) -> list[str]:
        bases = [BASE_10] if self.legacy else [BASE_10, BASE_11]
        return [*bases, CANDIDATE, VALIDATE, JUNOS_CAP, JUNOS_DMI]

    def new_session(self, peer: str) -> int:
        self._sids += 1
        self.sessions[self._sids] = peer
        return self._sids

    def end_session(self, sid: int) -> None:
        self.sessions.pop(sid, None)
        for store in [s for s, holder in self.locks.items() if holder == sid]:
            del self.locks[store]  # RFC 6241: a lock ends with its session
            if store == "candidate":
                self._discard()  # and Junos rolls back what it left uncommitted
        if self.dirty_by == sid:
            self._discard()

    def summary(self) -> dict[str, Any]:
        return {"up": self.up, "port": self.port, "sessions": sorted(self.sessions.values()),
                "rpcs": dict(self.rpcs), "commits": self.commits,
                "latency_ms": round(self.latency * 1000), "framing": "1.0" if self.legacy
                else "1.0/1.1", "model": config.model_of(self.index),
                "restore_at": self.restore_at}

    # -- RPCs ---------------------------------------------------------------------------------
    async def handle(self, op: ET.Element, sid: int) -> str:
        name = config.local(op.tag)
        self.rpcs[name] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        method = getattr(self, "rpc_" + name.replace("-", "_"), None)
        if method is None:
            return error_body("operation-not-supported", f"<{name}> is not supported",
                              "protocol", {"bad-element": name})
        try:
            return method(op, sid)
        except config.EditError as exc:
            return error_body(exc.tag, str(exc), exc.kind, exc.info)
        except Exception as exc:  # noqa: BLE001 - one odd request must not end the session
            log.exception("%s: <%s> failed", self.name, name)
            return error_body("operation-failed", f"<{name}> failed: {exc}")

    @staticmethod
    def _store(op: ET.Element, where: str) -> str:
        el = _child(op, where)
        if el is None or len(el) != 1:
            raise config.EditError("missing-element", f"<{where}> needs one datastore",
                                   "protocol", {"bad-element": where})
        store = config.local(el[0].tag)
        if store not in ("running", "candidate"):
            raise config.EditError("invalid-value", f"no datastore <{store}>", "protocol",
                                   {"bad-element": store})
        return store

    def _stamps(self) -> dict[str, str]:
        """The junos: attributes Junos puts on a configuration it sends."""
        return {"commit-seconds": str(int(self.committed_at)),
                "commit-localtime": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                  time.gmtime(self.committed_at)),
                "commit-user": USER}

    def _filtered(self, store: str, spec: ET.Element | None) -> ET.Element:
        conf = self.running if store == "running" else self.candidate
        return conf if spec is None else config.select(conf, spec)

    def rpc_get_config(self, op: ET.Element, sid: int) -> str:
        store = self._store(op, "source")
        wanted = _child(op, "filter")
        if wanted is not None and wanted.get("type", "subtree") != "subtree":
            raise config.EditError("operation-not-supported", "only subtree filters "
                                   "(this device does not advertise :xpath)", "protocol")
        if wanted is not None and len(wanted) and config.local(wanted[0].tag) != "configuration":
            return "<data/>"  # a filter for another model selects nothing here
        spec = wanted[0] if wanted is not None and len(wanted) else None
        return ("<data>" + config.serialize(self._filtered(store, spec), **self._stamps())
                .decode() + "</data>")

    def rpc_get_configuration(self, op: ET.Element, sid: int) -> str:
        """Junos' own read: the configuration straight in the reply, no <data>."""
        database = op.get("database", "committed")
        if database not in ("committed", "candidate"):
            raise config.EditError("invalid-value", f"no database {database!r}", "protocol",
                                   {"bad-attribute": "database",
                                    "bad-element": "get-configuration"})
        for attr, ok in (("format", "xml"), ("compare", None), ("rollback", None)):
            if op.get(attr) not in (ok, None):
                raise config.EditError("operation-not-supported", f"{attr}={op.get(attr)!r} "
                                       "is not supported by this simulated device", "protocol",
                                       {"bad-attribute": attr, "bad-element": "get-configuration"})
        spec = _child(op, "configuration")
        store = "running" if database == "committed" else "candidate"
        return config.serialize(self._filtered(store, spec), **self._stamps()).decode()

    def _locked_by_other(self, store: str, sid: int) -> str | None:
        holder = self.locks.get(store)
        if holder is not None and holder != sid:
            return error_body("in-use", f"{store} is locked by session {holder}", "protocol",
                              {"session-id": str(holder)})
        return None

    def _lock(self, store: str, sid: int) -> str:
        holder = self.locks.get(store)
        if holder is not None:
            return error_body("lock-denied", f"configuration database locked by: {USER} "
                              f"(session {holder}) exclusive", "protocol",
                              {"session-id": str(holder)})
        if store == "candidate" and self.dirty_by not in (None, sid):
            return error_body("lock-denied", "configuration database modified", "protocol",
                              {"session-id": str(self.dirty_by)})  # RFC 6241 §8.3.5.1
        self.locks[store] = sid
        return "<ok/>"

    def _unlock(self, store: str, sid: int) -> str:
        if self.locks.get(store) != sid:
            return error_body("operation-failed", f"this session holds no lock on {store}",
                              "protocol")
        del self.locks[store]
        if store == "candidate":
            self._discard()  # Junos: unlocking before a commit throws the changes away
        return "<ok/>"

    def rpc_lock(self, op: ET.Element, sid: int) -> str:
        return self._lock(self._store(op, "target"), sid)

    def rpc_unlock(self, op: ET.Element, sid: int) -> str:
        return self._unlock(self._store(op, "target"), sid)

    def rpc_lock_configuration(self, op: ET.Element, sid: int) -> str:
        """Junos' own lock of the candidate (`configure exclusive`); an empty reply on success."""
        answer = self._lock("candidate", sid)
        return "" if answer == "<ok/>" else answer

    def rpc_unlock_configuration(self, op: ET.Element, sid: int) -> str:
        answer = self._unlock("candidate", sid)
        return "" if answer == "<ok/>" else answer

    def rpc_edit_config(self, op: ET.Element, sid: int) -> str:
        store = self._store(op, "target")
        if store != "candidate":
            return error_body("operation-not-supported", "edit the candidate, then commit "
                              "(this device does not advertise :writable-running)", "protocol")
        if busy := self._locked_by_other(store, sid):
            return busy
        default = (_text(op, "default-operation") or "merge").strip()
        payload = _child(op, "config")
        if payload is None or len(payload) != 1 or config.local(payload[0].tag) != "configuration":
            return error_body("missing-element", "<config> must hold one <configuration> "
                              "(Junos XML; text formats are not supported here)", "protocol",
                              {"bad-element": "config"})
        self._edit(config.unqualified(payload[0]), default, sid)
        return "<ok/>"

    def _edit(self, edit: ET.Element, default: str, sid: int) -> None:
        """All or nothing: a refused edit leaves the candidate as it was."""
        if default not in ("merge", "replace", "none"):
            raise config.EditError("invalid-value", f"no default-operation {default!r}",
                                   "protocol", {"bad-element": "default-operation"})
        candidate = copy.deepcopy(self.candidate)
        config.merge(candidate, edit, default)
        self.candidate = candidate
        if config.digest(candidate) != config.digest(self.running):
            self.dirty_by = sid

    def _commit_options(self, op: ET.Element) -> bool:
        """The Junos options a commit may carry; True for `<check/>` (validate, keep running)."""
        for opt in op:
            if config.local(opt.tag) not in COMMIT_OPTIONS:
                raise config.EditError("operation-not-supported", f"commit option "
                                       f"<{config.local(opt.tag)}> is not supported by this "
                                       "simulated device", "protocol",
                                       {"bad-element": config.local(opt.tag)})
        return _child(op, "check") is not None

    def _commit(self, op: ET.Element, sid: int) -> str | None:
        """Commit the candidate, or the rpc-error that refuses it (None when committed)."""
        check = self._commit_options(op)
        for store in ("candidate", "running"):
            if busy := self._locked_by_other(store, sid):
                return busy
        if check:
            return None
        self.running = copy.deepcopy(self.candidate)
        self.dirty_by = None
        self.commits += 1
        self.committed_at = time.time()
        self.history.append({"at": self.committed_at, "session": sid,
                             "log": _text(op, "log")})
        return None

    def rpc_commit(self, op: ET.Element, sid: int) -> str:
        return self._commit(op, sid) or "<ok/>"

    def rpc_commit_configuration(self, op: ET.Element, sid: int) -> str:
        """Junos' own commit: the same, answered with <commit-results>."""
        return self._commit(op, sid) or junos.commit_results(_child(op, "check") is not None)

    def rpc_validate(self, op: ET.Element, sid: int) -> str:
        source = _child(op, "source")
        if source is not None and len(source) == 1 and config.local(source[0].tag) == "config":
            return "<ok/>"  # an inline configuration: well-formed is all this device checks
        self._store(op, "source")
        return "<ok/>"

    def _discard(self) -> None:
        self.candidate = copy.deepcopy(self.running)
        self.dirty_by = None

    def rpc_discard_changes(self, op: ET.Element, sid: int) -> str:
        if busy := self._locked_by_other("candidate", sid):
            return busy
        self._discard()
        return "<ok/>"

    @property
    def host_name(self) -> str:
        """The configured host name, as `show version` reports it."""
        return self.running.findtext("system/host-name") or self.name

    def rpc_get_software_information(self, op: ET.Element, sid: int) -> str:
        return junos.software_information(self.host_name, config.model_of(self.index))

    def rpc_get_system_information(self, op: ET.Element, sid: int) -> str:
        return junos.system_information(self.host_name, config.model_of(self.index),
                                        junos.serial_number(self.name))

    def rpc_command(self, op: ET.Element, sid: int) -> str:
        """A CLI command in an RPC (`<command>show version</command>`), as Junos runs it."""
        line = " ".join((op.text or "").split())
        rpc = junos.COMMANDS.get(line)
        if rpc is None or op.get("format", "xml") != "xml":
            raise config.EditError("operation-not-supported", f"command {line!r} is not "
                                   f"supported here (try: {', '.join(junos.COMMANDS)})",
                                   "protocol", {"bad-element": "command"})
        return getattr(self, "rpc_" + rpc.replace("-", "_"))(op, sid)


#: what a <commit> or <commit-configuration> may carry here (no confirmed or timed commits)
COMMIT_OPTIONS = frozenset({"check", "log", "synchronize", "force-synchronize"})


def _child(op: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in op if config.local(c.tag) == name), None)


def _text(op: ET.Element, name: str) -> str | None:
    el = _child(op, name)
    return el.text if el is not None else None


class _Login(asyncssh.SSHServer):
    """Password login for the lab's device user; tracks the device's open connections."""

    def __init__(self, device: Device, secret: str) -> None:
        self.device = device
        self.secret = secret
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.device.conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.device.conns.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and hmac.compare_digest(password.encode(), self.secret.encode())


class Fleet:
    """Devices `first..last` of a lab, served on one address."""

    def __init__(self, host: str, first_port: int, indexes: list[int], latency_ms: int,
                 host_key: Path, secret: str, control: Path) -> None:
        self.host = host
        self.key = asyncssh.read_private_key(str(host_key))
        self.secret = secret
        self.control = control
        self.devices = {device_name(i): Device(i, first_port + i - 1, latency_ms / 1000)
                        for i in indexes}

    async def start(self, device: Device) -> None:
        if device.up:
            return
        device.server = await asyncssh.listen(
            self.host, device.port, server_host_keys=[self.key], reuse_address=True,
            server_factory=lambda: _Login(device, self.secret), encoding=None,
            process_factory=lambda p: self._session(device, p), keepalive_interval=10,
            keepalive_count_max=3, allow_scp=False, agent_forwarding=False,
            x11_forwarding=False, line_editor=False, config=None, backlog=256)
        device.up = True
        device.restore_at = None

    async def fail(self, device: Device, seconds: float | None) -> None:
        """Power loss: stop listening and drop every session; back after `seconds` if given."""
        if device.server is not None:
            device.server.close()
            device.server = None
        for conn in list(device.conns):
            conn.abort()
        device.up = False
        device.restore_at = time.time() + seconds if seconds else None
        if seconds:
            asyncio.get_running_loop().call_later(
                seconds, lambda: asyncio.ensure_future(self._come_back(device)))

    async def _come_back(self, device: Device) -> None:
        if not device.up and device.restore_at and device.restore_at <= time.time() + 0.05:
            await self.start(device)
            log.info("%s came back by itself", device.name)

    async def _session(self, device: Device, process: asyncssh.SSHServerProcess) -> None:
        if process.subsystem != "netconf":
            process.stderr.write(b"this device only offers the netconf subsystem\n")
            process.exit(1)
            return
        peer = (process.get_extra_info("peername") or ("?",))[0]
        sid = device.new_session(peer)
        try:
            await serve(Channel(process.stdin, process.stdout), device.handle,
                        device.capabilities, sid)
        except (asyncssh.Error, ConnectionError, ValueError, asyncio.IncompleteReadError) as exc:
            log.info("%s session %d ended: %s", device.name, sid, exc)
        finally:
            device.end_session(sid)
            with contextlib.suppress(Exception):
                process.exit(0)

    # -- control socket -----------------------------------------------------------------------
    async def on_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    answer = await self.command(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    answer = {"error": str(exc)}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _pick(self, req: dict[str, Any]) -> list[Device]:
        names = req.get("devices")
        if names is None:
            return list(self.devices.values())
        return [self.devices[n] for n in names if n in self.devices]

    async def command(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "state":
            return {"devices": {d.name: d.summary() for d in self._pick(req)}}
        if op == "fail":
            seconds = float(req["seconds"]) if req.get("seconds") else None
            picked = self._pick(req)
            for d in picked:
                await self.fail(d, seconds)
            return {"failed": [d.name for d in picked]}
        if op == "restore":
            picked = [d for d in self._pick(req) if not d.up]
            for d in picked:
                await self.start(d)
            return {"restored": [d.name for d in picked]}
        if op == "latency":
            picked = self._pick(req)
            for d in picked:
                d.latency = max(0.0, float(req["ms"])) / 1000
            return {"latency_ms": float(req["ms"]), "devices": len(picked)}
        raise ValueError(f"unknown control operation {op!r}")

    async def run(self, stop: asyncio.Event) -> None:
        _raise_fd_limit(4 * len(self.devices) + 256)
        for d in self.devices.values():
            await self.start(d)
        self.control.unlink(missing_ok=True)
        umask = os.umask(0o177)  # the socket is the owner's alone from the moment it exists
        try:
            server = await asyncio.start_unix_server(self.on_control, str(self.control))
        finally:
            os.umask(umask)
        log.warning("fleet serving %d devices on %s:%d..%d", len(self.devices), self.host,
                    min(d.port for d in self.devices.values()),
                    max(d.port for d in self.devices.values()))
        await stop.wait()
        server.close()
        for d in self.devices.values():
            if d.server is not None:
                d.server.close()


def _raise_fd_limit(wanted: int) -> None:
    """One listener and at least one session per device: lift the soft limit toward the hard."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, new), hard))
