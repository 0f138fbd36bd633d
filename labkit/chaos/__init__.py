"""Chaos runs: random faults under a steady workload, then Jepsen-style checks.

`plan` turns a seed into a fault schedule (same seed, same plan); `workloads` are the clients
that keep writing through the VIP and later check that every acknowledged write survived;
`runner` drives both and reports availability in percent and in nines.
"""

from labkit.chaos.runner import ChaosReport, run_chaos

__all__ = ["ChaosReport", "run_chaos"]
