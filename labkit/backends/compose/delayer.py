"""The links keeper of one compose node container: holds back the frames of the late links
arriving at it (labkit.backends.delayer) and switches its own flapping links on time
(labkit.backends.flapper).

Each container queues the frames of its late incoming directions in its own INPUT chain
(link_rules.delays: iptables' NFQUEUE, one queue per direction, matched on the sender's address),
so each container needs its own delayer: a queue belongs to the network namespace it is in.
Each container's rules are those of the directions arriving at it, so each switches its own at a
flapping link's half-period boundaries, under the lab's link lock (the run directory is shared
with the host). A frozen container's keeper is frozen with it: its links stop flapping (and its
late frames wait) until it is thawed.

This is the `links` program of the node's supervisord, started before any server; it reads the
lab's links.json as the netns keeper does.

Run as `python -m labkit.backends.compose.delayer --node NODE` inside the node's container.
"""

from __future__ import annotations

import argparse
import sys
import time

from labkit.backends.compose import link_rules
from labkit.backends.delayer import queue_of, run
from labkit.backends.flapper import Flapper
from labkit.backends.nfqueue import Queues
from labkit.component import Program
from labkit.layout import Layout
from labkit.links import in_force, locked, read


def lateness(layout: Layout, node: str) -> dict[int, tuple[float, float]]:
    """(delay, jitter) of each late direction arriving at `node`, by its queue."""
    return {queue_of(layout, f.src, f.dst): (f.delay, f.jitter)
            for f in read(layout.paths.links) if f.delay and f.dst == node}


def incoming(layout: Layout, node: str) -> list[int]:
    """The queues of every direction that can arrive at `node`."""
    return sorted(queue_of(layout, n.name, node) for n in layout.nodes if n.name != node)


def program(node: str) -> Program:
    """The node supervisord's `links` program: first, so a late link is late from the start."""
    return Program("links", [sys.executable, "-m", "labkit.backends.compose.delayer",
                             "--node", node], priority=5, stopwaitsecs=3)


def switch(layout: Layout, node: str) -> None:
    """Put this container's own rules for the faults in force now (at a flap's boundary)."""
    with locked(layout.paths.links_lock):
        refused = link_rules.apply_here(layout, node, in_force(read(layout.paths.links),
                                                                time.time()))
    if refused:
        print(f"{node}: the flapping link's rules were refused: {refused}", file=sys.stderr,
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node", required=True)
    node = parser.parse_args().node
    layout = Layout.load()
    flapper = Flapper(lambda: read(layout.paths.links), lambda: switch(layout, node))
    run(Queues(incoming(layout, node)), lambda: lateness(layout, node), flapper.tick)


if __name__ == "__main__":
    main()
