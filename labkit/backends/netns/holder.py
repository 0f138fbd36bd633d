"""The holder of a rootless netns lab: the process whose namespaces the whole lab lives in.

Without root, a lab may still own network namespaces, inside a user namespace of its own
(`unshare --user --map-current-user --keep-caps --net --mount`: the lab's user keeps its uid, so
PostgreSQL and MariaDB, which refuse uid 0, still start, and holds every capability over the new
namespaces only). This process is started through that `unshare` and lives until `down`:

* its mount namespace has a private tmpfs on /run, so `ip netns add` can name the lab's switch and
  node namespaces there (nobody else sees them, so no two labs' names collide);
* its network namespace is the host side of root mode (the cable to the switch holding .1 and the
  device fleet's .200): the lab-wide supervisor runs here, started through labkit.backends.netns.
  enter like every command the CLI runs in the lab;
* the lab's addresses are its claimed 127.x.y.0/24, on real interfaces (each namespace's
  loopback keeps only 127.0.0.1, and `route_localnet` lets 127/8 travel a bridge), so the host
  can hold the same addresses on its own loopback: the CLI binds a listener there for every
  service of every node and the VIP before starting this process, which inherits them and splices
  each accepted connection to the same address and port inside (labkit.backends.netns.forwarder).
  Clients (notebooks, the CLI, tests) dial the addresses the configurations use.

On SIGTERM (`down`) it kills whatever still runs in the lab's namespaces, removes them and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import signal
import socket
from pathlib import Path

import uvloop

from labkit.backends.netns import forwarder, network
from labkit.layout import Layout


# -- inside: the holder ---------------------------------------------------------------------------
def private_run() -> None:
    """A tmpfs of the lab's own on /run (in this mount namespace only), with /run/netns for
    `ip netns add`: an ordinary user cannot write the host's /run."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", b"/run", b"tmpfs", 0, b"mode=0755") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount a tmpfs on /run: {os.strerror(err)}")
    Path("/run/netns").mkdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--fds", default="", help="the inherited listeners, in forwards() order")
    args = parser.parse_args()
    network.with_sbin()
    layout = Layout.load(args.lab)
    fds = [int(fd) for fd in args.fds.split(",") if fd]
    listeners = [(socket.socket(fileno=fd), target)
                 for fd, target in zip(fds, forwarder.forwards(layout), strict=True)]
    paths = layout.paths
    paths.holder.write_text(str(os.getpid()))
    try:
        private_run()
        network.build(layout)
        loop = uvloop.new_event_loop()  # libuv's loop: the forwarder copies every byte
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        paths.holder_ready.write_text(str(os.getpid()))
        loop.run_until_complete(forwarder.serve(listeners, stop))
    finally:
        killed = network.destroy(layout)
        print(f"holder: namespaces removed ({len(killed)} stray processes killed)", flush=True)
        for p in (paths.holder_ready, paths.holder):
            p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
