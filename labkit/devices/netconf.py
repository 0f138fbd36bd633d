"""NETCONF over SSH on asyncssh: the session loop a device runs and the client a node uses.

Both sides exchange hellos in 1.0 framing, then switch to 1.1 chunks if both advertised
`base:1.1` (see `framing`). The device side (`serve`) answers each `<rpc>` through a handler the
fleet supplies; the client (`NetconfClient`) sends one RPC at a time and waits for its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import asyncssh

from labkit.devices.config import JUNOS_ATTRS, NC_NS, local
from labkit.devices.framing import BASE_10, BASE_11, Decoder, FramingError, encode

CANDIDATE = "urn:ietf:params:netconf:capability:candidate:1.0"
VALIDATE = "urn:ietf:params:netconf:capability:validate:1.0"
JUNOS_CAP = "http://xml.juniper.net/netconf/junos/1.0"
JUNOS_DMI = "http://xml.juniper.net/dmi/system/1.0"  # Junos advertises its XML API with it

#: What a node offers first on its SSH connections to devices: a node opens a thousand of them
#: after a crash, and asyncssh's own first choices cost it most of each handshake's CPU. Its
#: default key exchange, mlkem768x25519 (post-quantum hybrid), generates an ML-KEM key per
#: connection on top of the X25519 one; its default cipher, chacha20-poly1305, builds two
#: cipher contexts per packet. Plain curve25519 and AES-GCM (one call per packet) cost a
#: fraction of that and are what OpenSSH and Junos negotiate too. The fleet also prefers them and
#: keeps asyncssh's other algorithms for clients that ask for those (ncclient's paramiko).
FAST_KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org")
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


class RpcError(Exception):
    """The device answered an RPC with <rpc-error>."""

    def __init__(self, tag: str, message: str) -> None:
        super().__init__(f"{tag}: {message}")
        self.tag = tag


class Channel:
    """One NETCONF session's byte stream, framed."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = Decoder()
        self.chunked = False

    def use_chunks(self, on: bool) -> None:
        self.chunked = self.decoder.chunked = on

    async def send(self, message: bytes) -> None:
        self.writer.write(encode(message, self.chunked))
        drain = getattr(self.writer, "drain", None)
        if drain is not None:
            await drain()

    async def recv(self) -> bytes | None:
        """The next message, or None once the peer closed the stream."""
        while (msg := self.decoder.next_message()) is None:
            data = await self.reader.read(65536)
            if not data:
                return None
            self.decoder.feed(data)
        return msg


def hello(capabilities: Sequence[str], session_id: int | None = None) -> bytes:
    caps = "".join(f"<capability>{escape(c)}</capability>" for c in capabilities)
    sid = f"<session-id>{session_id}</session-id>" if session_id is not None else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{NC_NS}"><capabilities>'
            f"{caps}</capabilities>{sid}</hello>").encode()


def parse_hello(message: bytes) -> tuple[list[str], int | None]:
    root = ET.fromstring(message)
    if local(root.tag) != "hello":
        raise FramingError(f"expected <hello>, got <{local(root.tag)}>")
    caps = [(c.text or "").strip() for c in root.iter() if local(c.tag) == "capability"]
    sid = next((int(c.text) for c in root.iter()
                if local(c.tag) == "session-id" and c.text and c.text.strip().isdigit()), None)
    return caps, sid


def _attrs(rpc: ET.Element) -> str:
    return "".join(f" {k}={quoteattr(v)}" for k, v in rpc.attrib.items() if "}" not in k)


def reply(rpc: ET.Element, body: str) -> bytes:
    """An <rpc-reply> echoing the request's attributes (message-id), as RFC 6241 requires,
    and declaring the `junos:` prefix of Junos' attributes, as a Junos device's replies do."""
    return (f'<rpc-reply xmlns="{NC_NS}" xmlns:junos="{JUNOS_ATTRS}"{_attrs(rpc)}>{body}'
            "</rpc-reply>").encode()


def error_body(tag: str, message: str, kind: str = "application",
               info: dict[str, str] | None = None) -> str:
    """One RFC 6241 <rpc-error>; `info` fills <error-info> (the RFC asks for <bad-element> with
    unknown-element and missing-element, <session-id> of the holder with lock-denied)."""
    details = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in (info or {}).items())
    return (f"<rpc-error><error-type>{kind}</error-type><error-tag>{tag}</error-tag>"
            f"<error-severity>error</error-severity><error-message>{escape(message)}"
            f"</error-message>{f'<error-info>{details}</error-info>' if details else ''}"
            "</rpc-error>")


#: answers one RPC: (operation element, session id) → reply body (`<ok/>`, `<data>…`)
Handler = Callable[[ET.Element, int], Awaitable[str]]


async def serve(channel: Channel, handler: Handler, capabilities: Sequence[str],
                session_id: int) -> None:
    """Run one device-side session until the client closes it or sends <close-session>."""
    await channel.send(hello(capabilities, session_id))
    first = await channel.recv()
    if first is None:
        return
    client_caps, _ = parse_hello(first)
    channel.use_chunks(BASE_11 in client_caps and BASE_11 in capabilities)
    while (msg := await channel.recv()) is not None:
        try:
            rpc = ET.fromstring(msg)
        except ET.ParseError as exc:
            await channel.send(reply(ET.Element("rpc"), error_body("malformed-message", str(exc),
                                                                   "rpc")))
            continue
        if local(rpc.tag) != "rpc" or len(rpc) != 1:
            await channel.send(reply(rpc, error_body("malformed-message",
                                                     "expected <rpc> with one operation", "rpc")))
            continue
        op = rpc[0]
        if local(op.tag) == "close-session":
            await channel.send(reply(rpc, "<ok/>"))
            return
        await channel.send(reply(rpc, await handler(op, session_id)))


class NetconfClient:
    """A persistent NETCONF session to one device, over its own SSH connection."""

    def __init__(self, conn: asyncssh.SSHClientConnection, channel: Channel,
                 server_caps: list[str], session_id: int | None) -> None:
        self.conn = conn
        self.channel = channel
        self.server_capabilities = server_caps
        self.session_id = session_id
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int, username: str, password: str,
                      host_key: asyncssh.SSHKey | None, versions: Sequence[str] = (BASE_10,
                                                                                   BASE_11),
                      timeout: float = 10.0, keepalive: float = 5.0,
                      source: str | None = None) -> NetconfClient:
        """SSH to the device, open the `netconf` subsystem and exchange hellos.

        `host_key` is the device's public key (the lab generates one per lab); None skips the
        check, which only tests of hostile servers should do. `source` is the local address
        to connect from (a node's own address, so the device and the firewall see the node).
        """
        conn = await asyncio.wait_for(asyncssh.connect(
            host, port, username=username, password=password,
            known_hosts=([host_key], [], []) if host_key is not None else None,
            client_keys=None, agent_path=None, preferred_auth="password",
            kex_algs=list(FAST_KEX), encryption_algs=list(FAST_CIPHERS), compression_algs=None,
            gss_host=None,
            keepalive_interval=keepalive, keepalive_count_max=3, config=None,
            local_addr=(source, 0) if source else None), timeout)
        try:
            writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
            channel = Channel(reader, writer)
            await channel.send(hello(list(versions) + [CANDIDATE]))
            first = await asyncio.wait_for(channel.recv(), timeout)
            if first is None:
                raise ConnectionError("the device closed the session before its hello")
            caps, sid = parse_hello(first)
            channel.use_chunks(BASE_11 in caps and BASE_11 in versions)
        except BaseException:
            conn.abort()
            raise
        return cls(conn, channel, caps, sid)

    @property
    def framing(self) -> str:
        return "1.1" if self.channel.chunked else "1.0"

    async def rpc(self, body: str, timeout: float = 30.0) -> ET.Element:
        """Send one operation; its <rpc-reply>, or RpcError if the device refused it."""
        async with self._lock:
            mid = str(next(self._ids))
            await self.channel.send(f'<rpc xmlns="{NC_NS}" message-id="{mid}">{body}</rpc>'
                                    .encode())
            msg = await asyncio.wait_for(self.channel.recv(), timeout)
        if msg is None:
            raise ConnectionError("the device closed the session")
        answer = ET.fromstring(msg)
        if answer.get("message-id") != mid:
            raise FramingError(f"reply to message {answer.get('message-id')}, expected {mid}")
        err = next((e for e in answer if local(e.tag) == "rpc-error"), None)
        if err is not None:
            fields = {local(c.tag): (c.text or "") for c in err}
            raise RpcError(fields.get("error-tag", "?"), fields.get("error-message", ""))
        return answer

    async def get_config(self, source: str = "running") -> ET.Element:
        """The device's configuration element (namespaces as the device sent them)."""
        answer = await self.rpc(f"<get-config><source><{source}/></source></get-config>")
        data = next(e for e in answer if local(e.tag) == "data")
        return next(iter(data))

    async def lock(self, target: str = "candidate") -> None:
        await self.rpc(f"<lock><target><{target}/></target></lock>")

    async def unlock(self, target: str = "candidate") -> None:
        await self.rpc(f"<unlock><target><{target}/></target></unlock>")

    async def edit_config(self, config: str, target: str = "candidate") -> None:
        await self.rpc(f"<edit-config><target><{target}/></target><config>{config}</config>"
                       "</edit-config>")

    async def commit(self) -> None:
        await self.rpc("<commit/>")

    async def close(self) -> None:
        """Close politely (<close-session>), then the SSH connection."""
        with contextlib.suppress(Exception):  # closing anyway: the device may be gone
            await asyncio.wait_for(self.rpc("<close-session/>"), 2)
        self.conn.close()

    def abort(self) -> None:
        self.conn.abort()

    async def wait_closed(self) -> None:
        await self.conn.wait_closed()
