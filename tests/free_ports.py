"""Free TCP ports on loopback for tests that start a device fleet of their own (no lab)."""

from __future__ import annotations

import random
import socket

HOST = "127.0.0.1"


def free_ports(n: int) -> int:
    """A first port with n free ports after it."""
    for _ in range(50):
        base = random.randint(20000, 60000)
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind((HOST, p))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range")
