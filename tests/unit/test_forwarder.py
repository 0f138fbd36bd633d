"""The rootless lab's forwarder on real sockets (no namespaces: both ends on this loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from labkit.backends.netns import forwarder
from labkit.layout import Layout
from labkit.topology import NodeSpec, Topology


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def forwarding(target: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """A listener forwarding to `target`, served on a thread; its address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(forwarder.serve([(listener, target)], stop),), daemon=True)
    thread.start()
    try:
        yield listener.getsockname()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        listener.close()


def test_bytes_cross_both_ways_and_an_end_is_passed_on():
    server = socket.create_server(("127.0.0.1", 0))
    with server, forwarding(server.getsockname()) as here:
        client = socket.create_connection(here, timeout=5)
        conn, _ = server.accept()
        client.sendall(b"hello")
        client.shutdown(socket.SHUT_WR)  # a half-close reaches the server as its end of input
        got = b""
        while chunk := conn.recv(100):
            got += chunk
        assert got == b"hello"
        conn.sendall(b"and back")  # the other direction still carries
        conn.close()
        assert client.recv(100) == b"and back"
        assert client.recv(100) == b""
        client.close()


def test_a_target_that_refuses_resets_the_client_instead_of_answering():
    """Accepted here, as the docs say, then reset: on a busy machine the reset can come before
    connect() returns (a CI run saw that), so either is the reset; an orderly end (recv gives
    b"") or an answer is not."""
    with forwarding(("127.0.0.1", free_port())) as here, \
            pytest.raises(ConnectionResetError):
        client = socket.create_connection(here, timeout=5)
        try:
            client.recv(1)
        finally:
            client.close()


def test_every_service_a_client_dials_is_forwarded():
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("lb",))))
    lay = Layout("fw", topo, "127.0.9")
    targets = set(forwarder.forwards(lay))
    p = lay.ports
    assert {(lay.vip, p.http), (lay.vip, p.https)} <= targets
    for addr in ("127.0.9.11", "127.0.9.12"):
        assert {(addr, port) for port in (p.http, p.https, p.app, p.mysql, p.postgres,
                                          p.cassandra_cql)} <= targets


def test_a_server_that_resets_resets_the_client_too():
    """An inside leg that fails (here reset; a cut node's, by its TCP timeouts) must not look
    like an orderly end to the client: its driver then knows the connection broke."""
    server = socket.create_server(("127.0.0.1", 0))
    with server, forwarding(server.getsockname()) as here:
        client = socket.create_connection(here, timeout=5)
        conn, _ = server.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, forwarder._LINGER_RESET)
        conn.close()
        with pytest.raises(ConnectionResetError):
            client.recv(1)
        client.close()
