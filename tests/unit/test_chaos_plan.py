"""Chaos plans: reproducible from their seed, one fault at a time, inside the run."""

from labkit.chaos.plan import make_plan
from labkit.topology import Topology

SERVICES = {"node1": ["apache", "app", "vrrp"], "node2": ["apache", "app", "vrrp"],
            "node3": ["app"], "node4": ["app"]}


def test_same_seed_same_plan_other_seed_other_plan():
    t = Topology.default()
    assert make_plan(t, SERVICES, 120, 1) == make_plan(t, SERVICES, 120, 1)
    assert make_plan(t, SERVICES, 120, 1) != make_plan(t, SERVICES, 120, 2)


def test_faults_never_overlap_and_heal_before_the_end():
    t = Topology.default()
    for seed in range(20):
        plan = make_plan(t, SERVICES, 120, seed, heal=8.0)
        assert plan, "a two-minute run has faults"
        for a, b in zip(plan, plan[1:], strict=False):
            assert b.start >= a.start + a.duration + 8.0 - 1e-9
        last = plan[-1]
        assert last.start + last.duration + 8.0 <= 120
        for f in plan:
            node, _, service = f.target.partition("/")
            assert node in SERVICES
            assert (f.mode == "kill") == bool(service)
            assert not service or service in SERVICES[node]
