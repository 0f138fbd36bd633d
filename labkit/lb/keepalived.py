"""keepalived on each `lb` node of the compose and netns backends: real VRRP moving a real VIP.

In a container or a network namespace each load-balancer node has its own network stack, so the
VIP can be what it is in production: an address that the VRRP master adds to its interface (and
announces with gratuitous ARP), and that the backup takes over when the master's adverts stop.
Apache listens on the VIP on both nodes (`ip_nonlocal_bind`), so whichever holds the address
answers.

The supervisor runs `python -m labkit.lb.keepalived run`, which renders the config for
the interface that holds the node's address *now* (an isolated node comes back on a new interface)
and then becomes keepalived, leaving a child (`relay`) that reads keepalived's notify FIFO and
records every state change: the node's view in `vrrp.json` (as labkit's own VRRP daemon does)
and the event log.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from labkit import atomic, events, templating, wait
from labkit.component import Component, NodeContext, Program, start_failure
from labkit.errors import LabError
from labkit.layout import Layout, RunDir

PR_SET_PDEATHSIG = 1
VRRP_STATES = ("MASTER", "BACKUP", "FAULT", "STOP")  #: what keepalived's notify script was told


class Keepalived(Component):
    role = "lb"
    programs = ("keepalived",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        binary()  # fail early, with the fix, if keepalived is missing
        ctx.layout.paths.vrrp(ctx.node).unlink(missing_ok=True)  # a previous run's view is stale
        return [ctx.python_program("keepalived", "labkit.lb.keepalived", "run",
                                   priority=30, stopwaitsecs=5)]

    def config_files(self, layout: Layout, node: str) -> dict[str, Path]:
        """Written by `run` at each start (the interface is known only then)."""
        return {"keepalived.conf": conf_path(layout, node)}

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        """Ready once keepalived has reported its first state (it starts as BACKUP)."""
        path = ctx.layout.paths.vrrp(ctx.node)
        alive = ctx.alive("keepalived")
        if wait.until(path.exists, timeout, stop=lambda: not alive()):
            return
        raise start_failure(f"keepalived on {ctx.node}", f"no VRRP state within {timeout:.0f}s",
                            ctx.log("keepalived"))


def binary() -> str:
    path = shutil.which("keepalived") or "/usr/sbin/keepalived"
    if not os.path.exists(path):
        raise LabError("keepalived is not installed",
                       "the compose node image installs it (`make compose-setup`); for the netns "
                       "backend run scripts/ensure-system-packages as root")
    return path


def conf_path(layout: Layout, node: str) -> Path:
    return layout.paths.service(node, "keepalived") / "keepalived.conf"


def router_id(layout: Layout) -> int:
    """One VRRP router id per lab network (1..255), from its /24."""
    return int(layout.prefix.split(".")[2]) % 255 + 1


def interface_of(address: str) -> str:
    """The interface that holds this address right now."""
    import psutil

    for name, addrs in psutil.net_if_addrs().items():
        if any(a.address == address for a in addrs):
            return name
    raise LabError(f"no interface holds {address}", "is the node connected to the lab network?")


def fifo_path(layout: Layout, node: str) -> Path:
    """Where keepalived writes its state changes for `relay`."""
    return layout.paths.service(node, "keepalived") / "notify.fifo"


def render(layout: Layout, node: str, interface: str) -> str:
    """keepalived.conf from templates/keepalived.conf.j2, for the interface holding the node's
    address."""
    vrrp = layout.topology.vrrp
    peers = [layout.address(n.name) for n in layout.topology.with_role("lb") if n.name != node]
    return templating.render(
        __file__, "keepalived.conf.j2", node=node, interface=interface,
        router_id=router_id(layout), priority=layout.topology.node(node).priority,
        advert_int=vrrp.advert_interval, preempt=vrrp.preempt, address=layout.address(node),
        peers=peers, vip=layout.vip, fifo=fifo_path(layout, node))


def run(layout: Layout, node: str) -> None:
    """Render the config for the current interface, then become keepalived (VRRP only), with a
    child relaying its state changes (`relay`)."""
    base = layout.paths.service(node, "keepalived")
    base.mkdir(parents=True, exist_ok=True)
    conf = conf_path(layout, node)
    fifo = fifo_path(layout, node)
    conf.write_text(render(layout, node, interface_of(layout.address(node))))
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo, 0o600)
    pids = [base / "keepalived.pid", base / "vrrp.pid"]
    for p in pids:  # left by a killed container; keepalived would think it still runs
        p.unlink(missing_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        try:
            relay(fifo, layout.rundir, node)
        finally:
            os._exit(0)
    os.execv(binary(), [binary(), "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                        "-f", str(conf), "-p", str(pids[0]), "-r", str(pids[1])])


def relay(fifo: Path, rundir: Path, node: str) -> None:
    """keepalived's state changes, read from its notify FIFO (`INSTANCE "VIP" MASTER 100` per
    line), recorded by `notify`; until keepalived (this process's parent) is gone.

    A FIFO, not a notify script: keepalived runs a script as `script_user` after setgroups(),
    which a rootless netns lab's user namespace denies, so there no script would ever run.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    fd = os.open(fifo, os.O_RDWR)  # a writer of its own: no end of file between writers

    def lines() -> Iterator[str]:
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except BlockingIOError:
                return
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                yield line.decode(errors="replace")

    def record(line: str) -> None:
        change = state_change(line)
        if change:
            notify(rundir, node, *change)

    def last_words(*_: object) -> None:  # keepalived exited: what it wrote last, then go
        os.set_blocking(fd, False)
        for line in lines():
            record(line)
        os._exit(0)

    signal.signal(signal.SIGTERM, last_words)
    if os.getppid() == 1:  # keepalived already gone before the signal was asked for
        last_words()
    for line in lines():
        record(line)


def state_change(line: str) -> tuple[str, str] | None:
    """(state, priority) of one line keepalived wrote to its notify FIFO, for its VRRP instance
    (`INSTANCE "VIP" MASTER 100`); None for any other line: groups, and the FIFO's events that
    are not states (MASTER_RX_LOWER_PRI: a master heard a lower priority's advert, and stays
    master)."""
    parts = line.replace('"', " ").split()
    if len(parts) >= 3 and parts[0] == "INSTANCE" and parts[2] in VRRP_STATES:
        return parts[2], parts[3] if len(parts) > 3 else "0"
    return None


def notify(rundir: Path, node: str, state: str, priority: str) -> None:
    """keepalived's state change: the node's view for `status`, and the event log."""
    state = state.lower()
    now = time.time()
    paths = RunDir(rundir)
    atomic.write_json(paths.vrrp(node), {"node": node, "state": state, "priority": int(priority),
                                         "updated": now, "by": "keepalived"})
    log = paths.events
    events.emit(log, "vrrp", node=node, state=state,
                message=f"{node} is now {state.upper()} (keepalived)")
    if state == "master":
        events.emit(log, "vip", owner=node,
                    message=f"VIP now on {node} (keepalived added it and sent gratuitous ARP)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labkit.lb.keepalived")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--lab", required=True)
    r.add_argument("--node", required=True)
    args = parser.parse_args(argv)
    run(Layout.load(args.lab), args.node)


if __name__ == "__main__":
    main()
