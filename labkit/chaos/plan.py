"""A fault schedule made from a seed: the same seed always gives the same plan.

By default the plan never breaks more than the cluster survives: one node at a time, and a
fault always ends (recover) before the next begins, leaving the cluster time to heal.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from labkit.topology import Topology

NODE_MODES = ("crash", "freeze", "isolate")


@dataclass(frozen=True)
class Fault:
    start: float  # seconds after the run starts
    duration: float  # seconds until recovery
    target: str  # node, or node/service
    mode: str  # crash | freeze | isolate | kill

    def describe(self) -> str:
        return f"t+{self.start:5.1f}s {self.mode:<7} {self.target} for {self.duration:.1f}s"


def make_plan(topology: Topology, services: dict[str, list[str]], duration: float, seed: int,
              heal: float = 8.0, max_fault: float = 10.0) -> list[Fault]:
    """Faults spaced so each is recovered and healed before the next one starts."""
    rng = random.Random(seed)
    nodes = [n.name for n in topology.nodes]
    plan: list[Fault] = []
    t = round(rng.uniform(2.0, 5.0), 1)
    while True:
        length = round(rng.uniform(3.0, max_fault), 1)
        if t + length + heal > duration:
            break
        node = rng.choice(nodes)
        if rng.random() < 0.25 and services.get(node):
            target, mode = f"{node}/{rng.choice(sorted(services[node]))}", "kill"
            length = 0.0
        else:
            target, mode = node, rng.choice(NODE_MODES)
        plan.append(Fault(round(t, 1), length, target, mode))
        t = round(t + length + heal + rng.uniform(0.0, 4.0), 1)
    return plan
