"""Hidden checks of lesson 08 (`labkit.ui.course.check("08", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The split rule and the
worker pool come from the lab's own modules (labkit.devices.mediation, labkit.devices.jobs)."""

from __future__ import annotations

import math
import random
from typing import Any

from labkit.devices import jobs, mediation


def _case(rng: random.Random) -> tuple[list[str], dict[str, str]]:
    """N devices (some of them in the job) spread unevenly over a random set of nodes."""
    nodes = [f"node{i}" for i in rng.sample(range(1, 11), rng.randint(1, 6))]
    n = rng.randint(1, 60)
    assignments = {f"dev{i:04d}": rng.choice(nodes) for i in range(1, n + 1)}
    picked = rng.sample(sorted(assignments), rng.randint(1, n))
    return picked, assignments


def subjobs(answer: Any, lab: Any) -> str | None:
    """`answer(devices, assignments) -> {node: [devices]}`: one sub-job per node that mediates
    some of the job's devices, holding exactly those (in any order); a node that mediates none of
    them gets no sub-job. Checked against `mediation.split` on random fleets and node sets, some
    jobs covering only part of the fleet."""
    if not callable(answer):
        return ("write a function, `def subjobs(devices, assignments): ...`, and pass the "
                "function itself")
    rng = random.Random()
    cases = [(["dev0001", "dev0002", "dev0003"],
              {"dev0001": "node2", "dev0002": "node10", "dev0003": "node2", "dev0004": "node3"})]
    cases += [_case(rng) for _ in range(30)]
    wrong: set[str] = set()
    for devices, assignments in cases:
        want = mediation.split(devices, assignments)
        got = answer(list(devices), dict(assignments))
        if not isinstance(got, dict):
            return f"return a dict, node → list of devices (you returned {type(got).__name__})"
        try:
            got_sets = {n: sorted(d) for n, d in got.items()}
        except TypeError:
            return "each value should be a list of device names"
        if got_sets != want:
            wrong.add(_mistake(got_sets, want, devices))
    hints = {
        "twice": "a device is in two sub-jobs: it would be resynchronized twice",
        "extra": ("a sub-job holds a device the job did not ask for: only the job's devices, "
                  "not the node's whole share"),
        "missing": "some of the job's devices are in no sub-job at all",
        "one": ("one sub-job for everything makes one node do all the work; split by the node "
                "that holds each device's session"),
        "empty": "a node that mediates none of the job's devices should get no sub-job",
        "keyed": "the sub-jobs should be keyed by the node each device is assigned to",
        "node": ("each device must go to the sub-job of the node that mediates it (look it up "
                 "in `assignments`)"),
    }
    for name in hints:
        if name in wrong:
            return hints[name]
    return None


def _mistake(got: dict[Any, list[str]], want: dict[Any, list[str]], devices: list[str]) -> str:
    everything = [d for ds in got.values() for d in ds]
    if len(everything) != len(set(everything)):
        return "twice"
    if set(everything) - set(devices):
        return "extra"
    if set(devices) - set(everything):
        return "missing"
    if len(got) == 1 and len(want) > 1:
        return "one"
    if any(not got[n] for n in set(got) - set(want)):
        return "empty"
    if set(got) - set(want):
        return "keyed"
    return "node"


def _ideal(devices: int, nodes: int, latency: float) -> float:
    """The biggest share (rebalanced: counts differ by one at most) in batches of WORKERS."""
    return math.ceil(math.ceil(devices / nodes) / jobs.WORKERS) * latency


def resync_seconds(answer: Any, lab: Any) -> str | None:
    """`answer(devices, nodes, latency) -> seconds`: how long a resync takes at best when
    `devices` devices are spread evenly over `nodes` nodes and each get-config waits `latency`
    seconds: the busiest node's share, WORKERS devices at a time, each batch one latency."""
    if not callable(answer):
        return ("write a function, `def resync_seconds(devices, nodes, latency): ...`, and pass "
                "the function itself")
    rng = random.Random()
    cases = [(100, 4, 0.2), (100, 1, 0.2), (30, 4, 0.5), (7, 3, 1.0), (5, 8, 0.3)]
    cases += [(rng.randint(1, 500), rng.randint(1, 8), rng.choice([0.1, 0.2, 0.5, 1.0]))
              for _ in range(20)]
    got = []
    for devices, nodes, latency in cases:
        value = answer(devices, nodes, latency)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"return a number of seconds (you returned {value!r})"
        got.append(value)

    def fits(formula: Any) -> bool:
        return all(abs(g - formula(*c)) <= 1e-6 for g, c in zip(got, cases, strict=True))

    if fits(_ideal):
        return None
    workers = jobs.WORKERS
    mistakes = [
        (lambda d, n, lat: d * lat,
         "that is one device after the other on one node: the work is split over the nodes, "
         "and each node works on several devices at once"),
        (lambda d, n, lat: math.ceil(d / workers) * lat,
         "that is one node doing everything; the nodes work at the same time"),
        (lambda d, n, lat: math.ceil(d / n) * lat,
         "each node does not take its devices one at a time: its worker pool runs several at "
         "once (labkit.devices.jobs)"),
        (lambda d, n, lat: d / n * lat,
         "each node does not take its devices one at a time: its worker pool runs several at "
         "once (labkit.devices.jobs)"),
        (lambda d, n, lat: d / n / workers * lat,
         "a batch that is only partly full still takes a whole latency, and the busiest node "
         "decides when the job is done: round up"),
    ]
    for formula, hint in mistakes:
        if fits(formula):
            return hint
    return ("think of the node with the biggest share, and how many rounds of its worker pool "
            "that share takes")
