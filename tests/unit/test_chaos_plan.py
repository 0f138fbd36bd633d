"""Chaos plans: reproducible from their seed, aimed at roles, inside the rules of plan.py."""

import pytest

from labkit.chaos.plan import AIMED, LINK_MODES, PAIR_ROLES, PLANS, ROLE_TARGETS, make_plan
from labkit.errors import LabError
from labkit.topology import NodeSpec, Topology

SERVICES = {"node1": ["apache", "app", "vrrp", "mysql", "mysqlwatch", "postgres", "pgwatch"],
            "node2": ["apache", "app", "vrrp", "mysql", "mysqlwatch", "postgres", "pgwatch"],
            "node3": ["app"], "node4": ["app"]}
DB = ("lb", "app", "mysql", "postgres")
SMALL = Topology(nodes=(NodeSpec("node1", DB), NodeSpec("node2", DB), NodeSpec("node3", ("app",))))


def test_same_seed_same_plan_other_seed_other_plan():
    t = Topology.default()
    for name in PLANS:
        assert make_plan(t, SERVICES, 120, 1, name=name, links=True, delays=True) == make_plan(
            t, SERVICES, 120, 1, name=name, links=True, delays=True)
    assert make_plan(t, SERVICES, 120, 1) != make_plan(t, SERVICES, 120, 2)


def test_an_unknown_plan_is_refused_with_the_names():
    with pytest.raises(LabError, match="unknown chaos plan") as e:
        make_plan(Topology.default(), SERVICES, 60, 1, name="nuke")
    assert "primary-killer" in (e.value.hint or "")


def _targets(fault) -> str:
    return fault.target.partition("/")[0]


@pytest.mark.parametrize("topo", [Topology.default(), SMALL], ids=["default", "small"])
def test_random_plans_keep_the_rules(topo):
    names = {n.name for n in topo.nodes}
    aimed = other = 0
    for seed in range(40):
        plan = make_plan(topo, SERVICES, 300, seed, heal=8.0)
        assert plan
        for f in plan:
            assert _targets(f) in names or _targets(f) in ROLE_TARGETS
            assert (f.mode == "kill") == ("/" in f.target) == (f.duration == 0)
            assert f.end + 8.0 <= 300  # rule 1
            aimed += _targets(f) in AIMED
            other += _targets(f) not in AIMED
        for i, f in enumerate(plan):
            during = [g for g in plan[i + 1:] if g.start < f.end]
            assert len(during) <= 1  # rule 2: two at once at most
            for g in during:
                pair_fault = g.group and g.group == f.group
                spare = not set(topo.node(g.target).roles) & {"lb", "mysql", "postgres"} \
                    if g.target in names else False
                assert pair_fault or spare, (f, g)  # rule 3
    assert 0.35 < aimed / (aimed + other) < 0.75  # the primaries as often as the rest


def test_overlaps_and_compound_steps_do_happen():
    plans = [make_plan(SMALL, SERVICES, 300, s) for s in range(40)]
    faults = [f for p in plans for f in p]
    assert any(f.group.startswith("failover-under-fault") for f in faults)
    assert any(f.mode == "freeze" and f.target in ("mysql-active", "postgres-primary")
               and f.duration >= 8 for f in faults)  # a thaw of a frozen old primary
    assert {f.mode for f in faults} == {"crash", "freeze", "isolate", "kill"}


def test_named_plans_aim_where_they_say():
    pk = make_plan(SMALL, SERVICES, 120, 3, name="primary-killer")
    assert [f.target for f in pk[:3]] == list(AIMED) and {f.mode for f in pk} == {"crash"}
    ff = make_plan(SMALL, SERVICES, 150, 3, name="failover-under-fault")
    assert [(f.target, f.mode) for f in ff[:6]] == [
        ("mysql-standby", "crash"), ("mysql-active", "crash"),
        ("postgres-standby", "freeze"), ("postgres-primary", "crash"),
        ("mysql-standby", "freeze"), ("mysql-active", "crash")]
    assert ff[1].start < ff[0].end < ff[1].end  # the standby returns while the active is down
    sb = make_plan(SMALL, SERVICES, 120, 3, name="split-brain")
    assert {f.mode for f in sb} == {"isolate"}
    assert "cannot split" in PLANS["split-brain"]


def test_a_topology_without_database_pairs_gets_no_database_targets():
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("lb", "app"))))
    for seed in range(10):
        for f in make_plan(topo, SERVICES, 200, seed):
            assert _targets(f) in {"node1", "node2", "vip-owner"}
    assert make_plan(topo, SERVICES, 200, 1, name="zombie-primary") == []
    assert all(PAIR_ROLES)


def test_the_partitions_plan_needs_link_faults_and_says_where_to_get_them():
    with pytest.raises(LabError, match="needs link faults") as e:
        make_plan(Topology.default(), SERVICES, 120, 1, name="partitions")
    assert "netns" in (e.value.hint or "")


def test_the_partitions_plan_cuts_each_pair_splits_the_adverts_and_isolates_each_active():
    plan = make_plan(Topology.default(), SERVICES, 300, 1, name="partitions", links=True)
    kinds = {(f.mode, f.target) for f in plan}
    assert {("cut", "mysql-active~mysql-standby"), ("cut", "postgres-primary~postgres-standby"),
            ("one-way", "vip-owner~vip-backup"), ("partition", "vip-owner"),
            ("isolate", "mysql-active"), ("isolate", "postgres-primary")} <= kinds
    for a, b in zip(plan, plan[1:], strict=False):
        assert b.start >= a.end + 8.0  # one step at a time, healed in between


def test_the_slow_links_plan_needs_late_links_and_says_where_to_get_them():
    for links in (False, True):  # compose cuts links but cannot hold frames back
        with pytest.raises(LabError, match="needs (link faults|late links)") as e:
            make_plan(Topology.default(), SERVICES, 120, 1, name="slow-links", links=links)
        assert "netns" in (e.value.hint or "")


def test_the_slow_links_plan_makes_each_pair_and_the_adverts_late_one_at_a_time():
    plan = make_plan(Topology.default(), SERVICES, 300, 1, name="slow-links", links=True,
                     delays=True)
    assert {f.mode for f in plan} == {"late"}
    assert [f.target for f in plan[:3]] == ["mysql-active~mysql-standby",
                                            "postgres-primary~postgres-standby",
                                            "vip-owner~vip-backup"]
    for a, b in zip(plan, plan[1:], strict=False):
        assert b.start >= a.end + 8.0  # one step at a time, healed in between
    # the other plans are what they were: `delays` adds nothing to them
    for name in ("random", "partitions"):
        assert make_plan(Topology.default(), SERVICES, 300, 1, name=name, links=True) == \
            make_plan(Topology.default(), SERVICES, 300, 1, name=name, links=True, delays=True)


def test_link_faults_join_random_plans_only_where_the_backend_has_them():
    topo = Topology.default()
    without = [f for seed in range(30) for f in make_plan(topo, SERVICES, 300, seed)]
    assert not [f for f in without if f.mode in LINK_MODES]
    linked = [f for seed in range(30) for f in make_plan(topo, SERVICES, 300, seed, links=True)]
    assert [f for f in linked if f.mode in LINK_MODES]
