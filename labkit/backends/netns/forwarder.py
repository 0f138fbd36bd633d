"""The forwarder of a rootless netns lab: host clients reach the lab's servers at their own
addresses.

A rootless lab's namespaces sit inside its holder's user namespace, which the host cannot route
into; but the lab's addresses are loopback ones (127.x.y.N), which the host holds too. So the CLI
binds a listener on the host for every TCP service a client may dial (`bound`: each node's
balancer, app server and databases, and the VIP), the holder inherits them, and `serve` splices
each accepted connection to the same address and port inside, where it crosses the lab's bridge
to the real server like any other packet.

What differs from a direct connection, and is said wherever it shows: the forwarder accepts at
once, and resets the connection if the node cannot be reached inside (crashed: refused; isolated:
no answer within 10 s), where a direct connection would be refused or hang; only TCP crosses.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Iterator

from labkit.errors import LabError
from labkit.layout import Layout

_LINGER_RESET = struct.pack("ii", 1, 0)  #: SO_LINGER on, 0 s: close sends a reset


def forwards(layout: Layout) -> list[tuple[str, int]]:
    """(address, port) of every TCP service a host client may dial: the VIP's http and https,
    and on every node the balancer, the app server and the databases."""
    p = layout.ports
    out = [(layout.vip, p.http), (layout.vip, p.https)]
    for n in layout.nodes:
        addr = layout.address(n.name)
        out += [(addr, port) for port in (p.http, p.https, p.app, p.mysql, p.postgres,
                                          p.cassandra_cql)]
    return out


#: the inside leg gives up as the lab's own clients do on a direct connection (PostgreSQL's
#: UNREACHABLE: sent data unacknowledged 10 s, or an idle peer silent 5 + 3 x 2 s). Without it a
#: client's own timeouts could never fire: the forwarder acknowledges everything it sends at
#: once, while the inside leg to a cut node retransmits for a quarter of an hour.
USER_TIMEOUT_MS, KEEPIDLE, KEEPINTVL, KEEPCNT = 10_000, 5, 2, 3


def _give_up_like_a_client(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPIDLE)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPINTVL)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPCNT)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset, as a failed connection ends, not with an orderly end."""
    with contextlib.suppress(OSError):
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   _LINGER_RESET)
    writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until its end, then pass the end on (half-close), as a cable would;
    an error (a reset, the inside leg's timeout) is raised."""
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _splice(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                  target: tuple[str, int]) -> None:
    """Connect inside, then copy both ways; if either leg fails, reset both."""
    try:
        server_r, server_w = await asyncio.wait_for(asyncio.open_connection(*target), 10)
    except (OSError, asyncio.TimeoutError):
        _reset(client_w)
        return
    with contextlib.suppress(OSError):
        _give_up_like_a_client(server_w.get_extra_info("socket"))
    pipes = {asyncio.ensure_future(_pipe(client_r, server_w)),
             asyncio.ensure_future(_pipe(server_r, client_w))}
    try:
        while pipes:
            done, pipes = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() for t in done):
                for t in pipes:
                    t.cancel()
                _reset(client_w)
                _reset(server_w)
                return
    finally:
        server_w.close()
        client_w.close()


async def serve(listeners: list[tuple[socket.socket, tuple[str, int]]],
                stop: asyncio.Event) -> None:
    servers = []
    for sock, target in listeners:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter,
                         target: tuple[str, int] = target) -> None:
            await _splice(r, w, target)
        servers.append(await asyncio.start_server(handle, sock=sock))
    await stop.wait()
    for s in servers:
        s.close()


@contextlib.contextmanager
def bound(layout: Layout) -> Iterator[list[socket.socket]]:
    """The host-side listeners, bound here (outside the lab) and closed again once the holder
    holds its copies."""
    socks: list[socket.socket] = []
    try:
        for addr, port in forwards(layout):
            s = socket.socket()
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, port))
            except OSError as exc:
                raise LabError(f"cannot listen on {addr}:{port} for the lab: {exc.strerror}",
                               "stop the program holding it (see `ss -ltnp`)") from None
            s.listen(128)
        yield socks
    finally:
        for s in socks:
            s.close()
