"""The entry point of every compose container: `python -m labkit.backends.compose.node ...`.

    --init          write the lab's layout.json and TLS certificate if there is none yet (the
                    compose file's one-shot `init` service; `labkit up` has written them already)
    --node NODE     put back NODE's link rules if link faults are in force (a restarted
                    container has a new network namespace), configure NODE's components for the
                    roles layout.json gives it, then become its supervisord (the same programs
                    the local backend runs, one supervisor, and `links`, the delayer of the
                    late links arriving at NODE)
    --fleet         the lab-wide programs other than the VIP segment (the device fleet)
    --jupyter       wait until the cluster is ready (the same waits as `labkit up`), then run
                    JupyterLab on the lessons

The run directory is shared with the host (or a volume) at the same path, so `labkit status` on
the host reads the same supervisor sockets, election views and event log as inside.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from labkit import events, links
from labkit.backends.base import lab_wide_programs, node_programs
from labkit.backends.compose import delayer, link_rules
from labkit.backends.compose.network import JUPYTER_HOST
from labkit.component import Program
from labkit.errors import LabError
from labkit.layout import Layout, default_lab_name, rundir_of
from labkit.supervisor import LAB_SUPERVISOR, Supervisor
from labkit.tls import ensure_certificate
from labkit.topology import Topology

BACKEND = "compose"


def init() -> Layout:
    """The lab's layout for the subnet the compose file gives (LABKIT_SUBNET); kept if present."""
    lab, subnet = default_lab_name(), os.environ.get("LABKIT_SUBNET", "")
    if rundir_of(lab).layout.exists():
        layout = Layout.load(lab)
        if subnet and layout.prefix != subnet:
            raise LabError(f"lab {lab!r} was set up on {layout.prefix}.0/24, not {subnet}.0/24",
                           "use the lab's own LABKIT_SUBNET, or remove its run directory")
    else:
        layout = Layout(lab=lab, topology=Topology.default(), prefix=subnet or "172.31.250",
                        backend=BACKEND, secrets=Layout.new_secrets())
        layout.save()
    ensure_certificate(layout.paths.tls,
                       [layout.vip, *(layout.address(n.name) for n in layout.nodes)],
                       f"labkit {lab}")
    return layout


def load() -> Layout:
    layout = Layout.load()
    vip = os.environ.get("LABKIT_VIP")
    if vip and vip != layout.vip:
        raise LabError(f"the compose file's VIP {vip} is not the lab's VIP {layout.vip}",
                       "set LABKIT_SUBNET to the lab's subnet")
    return layout


def supervisor(layout: Layout, name: str) -> Supervisor:
    """The supervisor of a node (or of the lab-wide programs), where the local backend keeps it."""
    return Supervisor.of(layout.paths, name)


def clear_stale_pidfiles(directory: Path) -> int:
    """A container starts with a new pid namespace, so every pid file left by its previous life
    names a process that is gone, or worse, an unrelated new one that happens to have the same
    number (httpd then refuses to start, "already running"). Nothing of that life runs: remove
    them all before any server starts."""
    stale = list(directory.rglob("*.pid"))  # httpd.pid, mysqld.pid, postmaster.pid, ...
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def restore_links(layout: Layout, node: str) -> str | None:
    """Before any server starts: the node's link rules from links.json (none if no link fault is
    in force). A container that restarts has a new network namespace without them; says so in
    the lab's events either way, and returns what was said (None: nothing in force)."""
    faults = links.read(layout.paths.links)
    if not faults:
        return None
    now = links.in_force(faults, time.time())  # a flapping link: as it is at this moment
    mine = link_rules.rules(layout, node, now)
    refused = link_rules.apply_here(layout, node, now)
    if refused:
        msg = (f"{node} started WITHOUT its link rules (nftables refused them: {refused}): "
               f"its links carry everything until `labkit heal` or the next link fault")
    else:
        msg = (f"{node} started with its link rules back ({len(mine)} input rule(s) for the "
               f"{len(faults)} link fault(s) in force)")
    events.emit(layout.events_path, "link_restore", node=node, ok=not refused, message=msg)
    print(msg, file=sys.stderr if refused else sys.stdout, flush=True)
    return msg


def become_supervisor(sup: Supervisor, programs: list[Program]) -> None:
    """Replace this process with supervisord in the foreground (the container's main process)."""
    sup.write_config(programs)
    sup.sock.unlink(missing_ok=True)  # left by a killed container
    sup.pidfile.unlink(missing_ok=True)
    os.execv(sys.executable, [sys.executable, "-m", "supervisor.supervisord", "-c",
                              str(sup.conf)])


def jupyter(layout: Layout) -> None:
    from labkit.backends.compose.backend import ComposeBackend

    backend = ComposeBackend(layout)
    backend.wait_components(lambda msg: print(msg, flush=True),
                            [n.name for n in layout.nodes])
    address = f"{layout.prefix}.{JUPYTER_HOST}"
    print(f"the lab is ready; JupyterLab on {address}:8888 (published on localhost:8888)",
          flush=True)
    os.execvp("jupyter", ["jupyter", "lab", f"--ip={address}", "--port=8888", "--no-browser",
                          "--allow-root", "--notebook-dir=/opt/labkit/src/notebooks"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.backends.compose.node",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--init", action="store_true")
    what.add_argument("--node")
    what.add_argument("--fleet", action="store_true")
    what.add_argument("--jupyter", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.init:
            layout = init()
            print(f"lab {layout.lab}: {layout.prefix}.0/24, VIP {layout.vip}", flush=True)
            return 0
        layout = load()
        if args.node:
            sup = supervisor(layout, args.node)
            restore_links(layout, args.node)
            clear_stale_pidfiles(sup.home)
            become_supervisor(sup, [delayer.program(args.node),
                                    *node_programs(layout, args.node, BACKEND)])
        elif args.fleet:
            sup = supervisor(layout, LAB_SUPERVISOR)
            clear_stale_pidfiles(sup.home)
            become_supervisor(sup, lab_wide_programs(layout, BACKEND))
        else:
            jupyter(layout)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
