"""Chaos runs: a nemesis that aims, concurrent clients, then Jepsen-style verdicts.

`plan` turns a seed into a fault schedule naming roles (same seed, same plan); `workload` is the
base of every tier's clients, each operation recorded in `history` (invoke → ok / fail / info);
`checker` gives every element of the database sets its verdict (ok, lost, stale, unknown, …)
and counts availability per request and per window; `runner` drives it all and writes the
history and the timeline (`timeline`) into the lab's run directory.
"""

from labkit.chaos.runner import ChaosReport, run_chaos

__all__ = ["ChaosReport", "run_chaos"]
