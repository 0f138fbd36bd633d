"""keepalived on each `lb` node of the compose and netns backends: real VRRP moving a real VIP.

In a container or a network namespace each load-balancer node has its own network stack, so the
VIP can be what it is in production: an address that the VRRP master adds to its interface (and
announces with gratuitous ARP), and that the backup takes over when the master's adverts stop.
Apache listens on the VIP on both nodes (`ip_nonlocal_bind`), so whichever holds the address
answers.

The supervisor runs `python -m labkit.lb.keepalived run`, which renders the config for
the interface that holds the node's address *now* (an isolated node comes back on a new interface)
and then becomes keepalived. keepalived calls `... notify` on every state change, which records
the node's view in `vrrp.json` (as labkit's own VRRP daemon does) and the event log.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

from labkit import atomic, events, templating, wait
from labkit.component import Component, NodeContext, Program, start_failure
from labkit.errors import LabError
from labkit.layout import Layout, RunDir


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


def render(layout: Layout, node: str, interface: str) -> str:
    """keepalived.conf from templates/keepalived.conf.j2, for the interface holding the node's
    address."""
    vrrp = layout.topology.vrrp
    peers = [layout.address(n.name) for n in layout.topology.with_role("lb") if n.name != node]
    return templating.render(
        __file__, "keepalived.conf.j2", node=node, interface=interface,
        router_id=router_id(layout), priority=layout.topology.node(node).priority,
        advert_int=vrrp.advert_interval, preempt=vrrp.preempt, address=layout.address(node),
        peers=peers, vip=layout.vip, notify=layout.paths.service(node, "keepalived") / "notify")


def run(layout: Layout, node: str) -> None:
    """Render the config for the current interface, then become keepalived (VRRP only)."""
    base = layout.paths.service(node, "keepalived")
    base.mkdir(parents=True, exist_ok=True)
    conf = conf_path(layout, node)
    conf.write_text(render(layout, node, interface_of(layout.address(node))))
    # keepalived runs a script by its resolved path, and the venv's python is a symlink to the
    # system's, which would lose the venv: a small shell script that execs it keeps it.
    script = base / "notify"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m "
                      f"labkit.lb.keepalived notify --rundir "
                      f"{shlex.quote(str(layout.rundir))} --node {node} \"$@\"\n")
    script.chmod(0o755)
    pids = [base / "keepalived.pid", base / "vrrp.pid"]
    for p in pids:  # left by a killed container; keepalived would think it still runs
        p.unlink(missing_ok=True)
    os.execv(binary(), [binary(), "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                        "-f", str(conf), "-p", str(pids[0]), "-r", str(pids[1])])


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
    n = sub.add_parser("notify")
    n.add_argument("--rundir", required=True, type=Path)
    n.add_argument("--node", required=True)
    n.add_argument("kind")  # INSTANCE
    n.add_argument("name")
    n.add_argument("state")  # MASTER | BACKUP | FAULT | STOP
    n.add_argument("priority", nargs="?", default="0")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        run(Layout.load(args.lab), args.node)
    else:
        notify(args.rundir, args.node, args.state, args.priority)


if __name__ == "__main__":
    main()
