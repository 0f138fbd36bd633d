"""`make bench-netns`: the spine's figures on a netns lab, to hold them beside the local run's.

The netns mode must not cost the lab its speed (issue 13): cold `up`, the lab's memory (PSS),
requests per second through the VIP and the VIP gap on crash and freeze are measured by the
same code as the local run (bench/spine.py), on a lab of one network namespace per node where
keepalived moves a real VIP (there `status()`'s VIP owner is the node whose Apache answers on
it). Writes bench/results-netns.json (every figure named `netns_<local figure>`) and renders
bench/RESULTS.md again; bench/targets.toml holds each to within 10 % of the local figure.
Needs root (`labkit.backends.netns.network.unavailable()` says why not).
"""

from __future__ import annotations

import os
import sys

from bench import run, spine
from bench.figures import Figure
from labkit.backends.netns import network

LAB = "bench-netns"


def measure(runs: int) -> list[Figure]:
    """The spine on a fresh netns lab, brought down (purged) afterwards."""
    lab, figures = spine.cold_start(LAB, backend="netns")
    try:
        figures += spine.memory(lab)
        lab, warm = spine.warm_start(lab)
        figures += warm
        figures += spine.fairness(lab)
        figures += spine.throughput(lab)
        figures += spine.vip_gap(lab, runs=runs)
    finally:
        lab.down(purge=True)
    return [Figure("netns_" + f.name, f.value, f.unit, f.how) for f in figures]


def main() -> int:
    why = network.unavailable()
    if why:
        print(f"the netns backend is not measured: {why}")
        return 1
    figures = measure(runs=int(os.environ.get("BENCH_RUNS", "20")))
    run.save(run.NETNS_RESULTS, "netns", figures)
    run.render()
    return 0


if __name__ == "__main__":
    sys.exit(main())
