"""The links keeper of a netns lab: makes late links late (labkit.backends.delayer) and switches
flapping links on time (labkit.backends.flapper), in one process.

The switch queues each IPv4 frame of a late link (network.apply_delays: one NFQUEUE per direction
of each link, matched on the bridge ports it enters and leaves by), and this program, a program
of the netns lab's lab-wide supervisor running inside the switch's namespace, holds each back.

Run as `ip netns exec <switch> python -m labkit.backends.netns.delayer --lab LAB` (the lab-wide
supervisor's `links` program).
"""

from __future__ import annotations

import argparse

from labkit.backends import backend_for
from labkit.backends.delayer import link_queues, queue_of, run
from labkit.backends.flapper import Flapper
from labkit.backends.nfqueue import Queues
from labkit.layout import Layout
from labkit.links import read


def lateness(layout: Layout) -> dict[int, tuple[float, float]]:
    """(delay, jitter) of each late link direction, by its queue, from the record."""
    return {queue_of(layout, f.src, f.dst): (f.delay, f.jitter)
            for f in read(layout.paths.links) if f.delay}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    layout = Layout.load(parser.parse_args().lab)
    backend = backend_for(layout)
    run(Queues(sorted(link_queues(layout))), lambda: lateness(layout),
        Flapper(backend.links, backend.keep_flapping).tick)


if __name__ == "__main__":
    main()
