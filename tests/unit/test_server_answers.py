"""The database watchers' liveness probe: one byte back from the server, each step within a
second. A frozen server (the kernel accepts, nothing answers) and a closed port are silent; a
server a slow link keeps 0.6 s away still answers (a login there took four round trips and
timed out: the slow-links chaos plan's false PostgreSQL failover)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from labkit.db.pg_watch import SSL_REQUEST
from labkit.db.watcher import server_answers


@contextmanager
def server(serve: Callable[[socket.socket], None]) -> Iterator[int]:
    lsn = socket.create_server(("127.0.0.1", 0))
    lsn.settimeout(5)

    def loop() -> None:
        try:
            conn, _ = lsn.accept()
        except OSError:
            return
        with conn:
            serve(conn)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield lsn.getsockname()[1]
    finally:
        lsn.close()
        t.join(3)


def greets(conn: socket.socket) -> None:  # MariaDB: the server speaks first
    conn.sendall(b"\x4a\x00\x00\x00\x0a5.5.5-10.11")


def answers_ssl_request(conn: socket.socket) -> None:  # PostgreSQL: 8 bytes in, 'N' out
    if conn.recv(8) == SSL_REQUEST:
        conn.sendall(b"N")


def far_away(conn: socket.socket) -> None:
    time.sleep(0.6)
    greets(conn)


def frozen(conn: socket.socket) -> None:
    time.sleep(1.5)


def test_a_live_server_answers_whichever_side_speaks_first():
    with server(greets) as port:
        assert server_answers("127.0.0.1", port)
    with server(answers_ssl_request) as port:
        assert server_answers("127.0.0.1", port, SSL_REQUEST)


def test_a_server_a_slow_link_away_still_answers():
    with server(far_away) as port:
        assert server_answers("127.0.0.1", port)


def test_a_frozen_server_and_a_closed_port_are_silent():
    with server(frozen) as port:
        assert not server_answers("127.0.0.1", port)
    with server(answers_ssl_request) as port:
        assert not server_answers("127.0.0.1", port)  # PostgreSQL waits for the client: silence
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not server_answers("127.0.0.1", port)
