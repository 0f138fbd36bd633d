"""The cluster spec: the default shape, YAML loading, and one clear line for each bad spec."""

import json
from pathlib import Path

import pytest

from labkit.errors import LabError
from labkit.topology import LbSpec, NodeSpec, Topology, VrrpSpec, parse_size

ROOT = Path(__file__).resolve().parents[2]
PAIR = {"node1": {"roles": ["lb", "app"]}, "node2": {"roles": ["lb", "app"]}}


def refused(body) -> LabError:
    """The LabError `body` gives, checked to be one line with a hint (no traceback text)."""
    with pytest.raises(LabError) as err:
        Topology.from_dict(body)
    assert "\n" not in err.value.message
    assert err.value.hint
    return err.value


def with_node(**node) -> dict:
    return {"nodes": {**PAIR, "node3": node}}


def test_default_is_the_seed_shape():
    t = Topology.default()
    assert [n.name for n in t.nodes] == ["node1", "node2", "node3", "node4"]
    assert [n.name for n in t.with_role("lb")] == ["node1", "node2"]
    assert [n.name for n in t.with_role("app")] == ["node1", "node2", "node3", "node4"]
    assert t.node("node1").priority > t.node("node2").priority


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("nodes:\n  a1: {roles: [lb, app]}\n  a2: {roles: [lb, app], priority: 50}\n"
                    "  a3: {roles: [app]}\nvrrp: {advert_interval: 0.2, preempt: true}\n")
    t = Topology.load(path)
    assert [n.name for n in t.nodes] == ["a1", "a2", "a3"]
    assert t.node("a2").priority == 50
    assert t.vrrp.preempt is True and t.vrrp.advert_interval == 0.2
    assert Topology.from_dict(t.to_dict()) == t


@pytest.mark.parametrize("topo", [Topology.default(n) for n in (2, 4, 16)]
                         + [Topology.load(ROOT / "binder" / "small.yml")], ids=str)
def test_to_dict_loads_back_the_same_topology_also_through_json(topo):
    """layout.json stores to_dict() and loads it with from_dict: nothing may change on the way."""
    assert Topology.from_dict(topo.to_dict()) == topo
    assert Topology.from_dict(json.loads(json.dumps(topo.to_dict()))) == topo


def test_binder_small_still_loads():
    t = Topology.load(ROOT / "binder" / "small.yml")
    assert t.name == "labkit-small" and t.devices.count == 30
    assert [n.name for n in t.with_role("cassandra")] == ["node1"]
    assert [n.name for n in t.with_role("mysql")] == ["node1", "node2"]


def test_a_bare_node_plays_app_and_sections_may_be_empty(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("nodes:\n  node1: {roles: [lb, app]}\n  node2:\nvrrp:\ndevices: {}\n")
    t = Topology.load(path)
    assert t.node("node2").roles == ("app",) and t.vrrp == VrrpSpec()


@pytest.mark.parametrize("body, key, words", [
    ({"nodes": PAIR, "colour": 1}, "colour", "unknown key"),
    (with_node(roles=["app"], priority="high"), "nodes.node3.priority",
     "must be an integer (got 'high')"),
    (with_node(roles=["app"], priority="90"), "nodes.node3.priority",
     "must be an integer (got '90')"),
    (with_node(roles=["app"], priority=True), "nodes.node3.priority", "must be an integer"),
    (with_node(roles=["app"], priority=90.0), "nodes.node3.priority", "must be an integer"),
    (with_node(roles=["app"], priority=300), "nodes.node3.priority", "at most 254"),
    (with_node(roles=["app"], priority=0), "nodes.node3.priority", "at least 1"),
    (with_node(roles=["app"], colour="red"), "nodes.node3.colour", "unknown key"),
    (with_node(roles="app"), "nodes.node3.roles", "must be a list"),
    (with_node(roles=["wizard"]), "nodes.node3.roles", "unknown role 'wizard'"),
    (with_node(roles=["app", "app"]), "nodes.node3.roles", "'app' is listed twice"),
    ({"nodes": {**PAIR, "node3": ["app"]}}, "nodes.node3", "must be a mapping"),
    ({"nodes": PAIR, "vrrp": {"preempt": "no"}}, "vrrp.preempt",
     "must be true or false (got 'no')"),
    ({"nodes": PAIR, "vrrp": {"preempt": 0}}, "vrrp.preempt", "must be true or false"),
    ({"nodes": PAIR, "vrrp": {"advert_interval": "0.5"}}, "vrrp.advert_interval",
     "must be a number"),
    ({"nodes": PAIR, "vrrp": {"advert_interval": 20}}, "vrrp.advert_interval", "at most 10"),
    ({"nodes": PAIR, "vrrp": {"skew": 1}}, "vrrp.skew", "unknown key"),
    ({"nodes": PAIR, "devices": {"count": 9999}}, "devices.count", "at most 5000"),
    ({"nodes": PAIR, "devices": {"count": "30"}}, "devices.count", "must be an integer"),
    ({"nodes": PAIR, "devices": {"latency_ms": -1}}, "devices.latency_ms", "at least 0"),
    ({"nodes": PAIR, "devices": {"auto_rebalance": "yes"}}, "devices.auto_rebalance",
     "must be true or false"),
    ({"nodes": PAIR, "membership_timeout": 0.1}, "membership_timeout", "at least 0.5"),
    ({"nodes": PAIR, "name": 7}, "name", "must be a string"),
    ({"nodes": {"node1\n": {"roles": ["lb", "app"]}, "node2": {}}}, r"nodes.'node1\n'",
     "not a valid node name"),
    ({"nodes": {"N 1": {"roles": ["lb", "app"]}, "node2": {}}}, "nodes.'N 1'",
     "not a valid node name"),
    ({"nodes": {"n" * 17: {"roles": ["lb", "app"]}, "node2": {}}}, "nodes." + "n" * 17,
     "not a valid node name"),
    ({"nodes": {1: {"roles": ["lb", "app"]}, "node2": {}}}, "nodes.1",
     "a node name must be a string"),
    ({"nodes": {"n1": {"roles": ["lb", "app"]}}}, "nodes", "between 2 and 16 nodes (got 1)"),
    ({"nodes": {f"n{i}": {} for i in range(17)}}, "nodes", "between 2 and 16"),
    ({"nodes": {"n1": {"roles": ["app"]}, "n2": {"roles": ["app"]}}}, "nodes",
     "no node has the 'lb' role"),
    ({"nodes": {"n1": {"roles": ["lb"]}, "n2": {"roles": ["lb"]}}}, "nodes",
     "no node has the 'app' role"),
    ({"nodes": {f"n{i}": {"roles": ["lb", "app"]} for i in range(3)}}, "nodes",
     "role 'lb' is on 3 nodes (n0, n1, n2); at most 2"),
    (with_node(roles=["app", "mysql"]), "nodes", "role 'mysql' is on 1 node (node3)"),
    (with_node(roles=["app", "postgres"]), "nodes", "a postgres pair is exactly 2 nodes"),
    ({"nodes": {"n0": {"roles": ["lb"]}, **{f"n{i}": {"roles": ["app", "mysql"]} for i in "123"}}},
     "nodes", "role 'mysql' is on 3 nodes (n1, n2, n3); a mysql pair is exactly 2 nodes"),
    ({"nodes": []}, "nodes", "must be a mapping"),
    ({"name": "x"}, "nodes", "is missing"),
])
def test_bad_specs_say_which_key_and_what_is_wrong(body, key, words):
    err = refused(body)
    assert err.message.startswith(f"topology: {key}: "), err.message
    assert words in err.message


@pytest.mark.parametrize("body", [None, [], "nodes"])
def test_a_topology_that_is_no_mapping_is_one_line_too(body):
    assert refused(body).message.startswith("topology: must be a mapping")


def test_an_unknown_key_lists_the_known_ones():
    assert "advert_interval, preempt" in refused({"nodes": PAIR, "vrrp": {"skew": 1}}).hint


def test_a_range_error_gives_the_range():
    assert "from 1 to 254" in refused(with_node(roles=["app"], priority=255)).hint


def test_database_roles_may_be_left_out_and_one_lb_is_enough():
    t = Topology.from_dict({"nodes": {"n1": {"roles": ["lb", "app"]}, "n2": {"roles": ["app"]}}})
    assert not t.with_role("mysql") and len(t.with_role("lb")) == 1


def test_python_built_topologies_pass_the_same_checks():
    with pytest.raises(LabError, match=r"^topology: nodes.a: node names must be unique"):
        Topology(nodes=(NodeSpec("a", ("lb", "app")), NodeSpec("a", ("app",))))
    with pytest.raises(LabError, match=r"^topology: nodes.b.priority: must be an integer"):
        Topology(nodes=(NodeSpec("a", ("lb", "app")), NodeSpec("b", ("app",), priority="9")))


@pytest.mark.parametrize("text, key, words", [
    ("nodes:\n  node1: {roles: [lb, app], priority: high}\n  node2: {roles: [lb, app]}\n",
     "nodes.node1.priority", "must be an integer (got 'high')"),
    ('nodes:\n  node1: {roles: [lb, app], priority: "90"}\n  node2: {roles: [lb, app]}\n',
     "nodes.node1.priority", "must be an integer (got '90')"),
    ('nodes: {node1: {roles: [lb, app]}, node2: {roles: [lb, app]}}\nvrrp: {preempt: "no"}\n',
     "vrrp.preempt", "must be true or false (got 'no')"),
    ('nodes:\n  "node1\\n": {roles: [lb, app]}\n  node2: {roles: [lb, app]}\n',
     r"nodes.'node1\n'", "not a valid node name"),
    ("", "", "must be a mapping (got None)"),
])
def test_yaml_files_are_checked_as_strictly(tmp_path, text, key, words):
    path = tmp_path / "lab.yml"
    path.write_text(text)
    with pytest.raises(LabError) as err:
        Topology.load(path)
    assert "\n" not in err.value.message
    assert err.value.message.startswith(f"topology: {key}: " if key else "topology: ")
    assert words in err.value.message
    assert str(path) in err.value.hint  # which file to fix


def test_a_yaml_bool_is_a_bool(tmp_path):
    """`preempt: no` unquoted is YAML's false (PyYAML reads YAML 1.1), so it is accepted."""
    path = tmp_path / "lab.yml"
    path.write_text("nodes: {node1: {roles: [lb, app]}, node2: {roles: [lb, app]}}\n"
                    "vrrp: {preempt: yes}\n")
    assert Topology.load(path).vrrp.preempt is True


@pytest.mark.parametrize("text, line", [
    ("nodes:\n  node1: {roles: [lb, app]}\n  node1: {roles: [app]}\n  node2: {roles: [lb]}\n", 3),
    ("nodes:\n  node1: {roles: [lb, app], roles: [app]}\n  node2: {roles: [lb, app]}\n", 2),
    ("name: a\nnodes: {node1: {roles: [lb, app]}, node2: {roles: [lb, app]}}\nname: b\n", 3),
])
def test_a_duplicate_yaml_key_is_refused(tmp_path, text, line):
    path = tmp_path / "lab.yml"
    path.write_text(text)
    with pytest.raises(LabError) as err:
        Topology.load(path)
    assert "\n" not in err.value.message
    assert f"not valid YAML: line {line}," in err.value.message
    assert "duplicate key" in err.value.message


def test_a_yaml_merge_key_may_still_be_overridden(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("nodes:\n  node1: &b {roles: [lb, app], priority: 100}\n"
                    "  node2: {<<: *b, priority: 90}\n")
    assert Topology.load(path).node("node2").priority == 90


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(LabError, match="does not exist"):
        Topology.load(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes: [unclosed")
    with pytest.raises(LabError, match="not valid YAML: line 1, column 17: ") as err:
        Topology.load(bad)
    assert "\n" not in err.value.message
    with pytest.raises(LabError, match="cannot be read"):
        Topology.load(tmp_path)  # a directory


def test_unknown_node_lists_the_real_ones():
    with pytest.raises(LabError) as err:
        Topology.default().node("node9")
    assert "node1, node2, node3, node4" in err.value.hint


@pytest.mark.parametrize("n", [1, 17])
def test_node_count_bounds(n):
    with pytest.raises(LabError):
        Topology.default(n)


def test_durability_knobs_default_safe_and_are_strict():
    nodes = {"node1": {"roles": ["lb", "app", "mysql", "postgres"]},
             "node2": {"roles": ["lb", "app", "mysql", "postgres"]}}
    safe = Topology.from_dict({"nodes": nodes})
    assert safe.mysql.semi_sync and safe.postgres.synchronous
    unsafe = Topology.from_dict({"nodes": nodes, "mysql": {"semi_sync": False},
                                 "postgres": {"synchronous": False}})
    assert not unsafe.mysql.semi_sync and not unsafe.postgres.synchronous
    assert Topology.from_dict(json.loads(json.dumps(unsafe.to_dict()))) == unsafe
    with pytest.raises(LabError, match=r"mysql\.semi_sync: must be true or false"):
        Topology.from_dict({"nodes": nodes, "mysql": {"semi_sync": "no"}})
    with pytest.raises(LabError, match=r"postgres\.sync: unknown key"):
        Topology.from_dict({"nodes": nodes, "postgres": {"sync": False}})


def test_the_database_silence_timers_live_in_the_topology_and_reach_the_watchers(tmp_path,
                                                                               monkeypatch):
    """Issue 17: the failover timers a learner may tune, with bounds the watchers can keep."""
    from labkit.db import mysql_watch, pg_watch
    from labkit.layout import Layout

    nodes = {"node1": {"roles": ["lb", "app", "mysql", "postgres"]},
             "node2": {"roles": ["lb", "app", "mysql", "postgres"]}}
    default = Topology.from_dict({"nodes": nodes})
    assert (default.mysql.failover_after, default.mysql.alone_after,
            default.postgres.failover_after) == (1.0, 3.0, 1.0)
    quick = Topology.from_dict({"nodes": nodes, "mysql": {"failover_after": 1.5, "alone_after": 2},
                                "postgres": {"failover_after": 2.5}})
    assert Topology.from_dict(json.loads(json.dumps(quick.to_dict()))) == quick
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    layout = Layout(lab="timers", topology=quick, prefix="127.0.9")
    my = mysql_watch.MysqlWatcher(layout, "node2")
    assert (my.failover_after, my.alone_after) == (1.5, 2.0)
    assert pg_watch.PgWatcher(layout, "node2").failover_after == 2.5
    with pytest.raises(LabError, match=r"mysql\.failover_after: .*1") as err:
        Topology.from_dict({"nodes": nodes, "mysql": {"failover_after": 0.2}})
    assert "from 1.0 to 60" in str(err.value.hint)
    with pytest.raises(LabError, match=r"postgres\.failover_after: must be a number"):
        Topology.from_dict({"nodes": nodes, "postgres": {"failover_after": "3s"}})


@pytest.mark.parametrize("text, size", [("4GiB", 4 << 30), ("512MiB", 512 << 20),
                                        ("100MB", 100_000_000), ("1000", 1000), (2048, 2048)])
def test_sizes_are_read_with_their_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "4 parsecs", "-1GiB", "GiB", "1.5.2MB"])
def test_a_bad_quota_is_refused_with_the_way_to_write_it(text):
    with pytest.raises(LabError, match="bad size") as err:
        Topology.from_dict({**Topology.default().to_dict(), "cassandra": {"quota": text}})
    assert "4GiB" in err.value.hint


def test_the_file_quota_is_a_topology_knob():
    topo = Topology.from_dict({**Topology.default().to_dict(), "cassandra": {"quota": "1GiB"}})
    assert topo.cassandra.quota_bytes == 1 << 30
    assert Topology.from_dict(topo.to_dict()) == topo


# -- lb: Apache's balancer timers ---------------------------------------------------------------
def test_the_balancer_timers_default_to_noticing_a_frozen_member_in_about_a_second():
    lb = Topology.default().lb
    assert lb == LbSpec(health_check_interval=0.2, member_timeout=1, slow_timeout=5, retry=1,
                        fail_on_timeout=False)
    assert lb.health_check_interval_ms == 200
    assert lb.health_check_interval + lb.member_timeout <= 1.5


def test_the_balancer_timers_load_from_yaml_and_round_trip(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("nodes: {node1: {roles: [lb, app]}, node2: {roles: [app]}}\n"
                    "lb: {health_check_interval: 0.5, member_timeout: 2, slow_timeout: 10, "
                    "retry: 0, fail_on_timeout: true}\n")
    t = Topology.load(path)
    assert t.lb == LbSpec(0.5, 2, 10, 0, True) and t.lb.health_check_interval_ms == 500
    assert Topology.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    # an int is a number of seconds too; a section may give only some keys
    assert Topology.from_dict({"nodes": PAIR, "lb": {"health_check_interval": 1}}).lb == \
        LbSpec(health_check_interval=1)


@pytest.mark.parametrize("lb, key, words", [
    ({"health_check_interval": 0.05}, "lb.health_check_interval", "at least 0.1"),
    ({"health_check_interval": 61}, "lb.health_check_interval", "at most 60"),
    ({"health_check_interval": "200ms"}, "lb.health_check_interval", "must be a number"),
    ({"member_timeout": 0.5}, "lb.member_timeout", "must be an integer"),
    ({"member_timeout": 0}, "lb.member_timeout", "at least 1"),
    ({"member_timeout": "1"}, "lb.member_timeout", "must be an integer (got '1')"),
    ({"slow_timeout": 601}, "lb.slow_timeout", "at most 600"),
    ({"retry": -1}, "lb.retry", "at least 0"),
    ({"retry": True}, "lb.retry", "must be an integer"),
    ({"fail_on_timeout": "on"}, "lb.fail_on_timeout", "must be true or false (got 'on')"),
    ({"timeout": 5}, "lb.timeout", "unknown key"),
    ({"member_timeout": 10}, "lb.slow_timeout", "must be at least member_timeout (10) (got 5)"),
])
def test_bad_balancer_timers_say_which_key_and_what_is_wrong(lb, key, words):
    err = refused({"nodes": PAIR, "lb": lb})
    assert err.message.startswith(f"topology: {key}: "), err.message
    assert words in err.message


def test_a_balancer_timer_out_of_range_gives_the_range_and_unknown_keys_the_known_ones():
    assert "from 1 to 300" in refused({"nodes": PAIR, "lb": {"member_timeout": 0}}).hint
    hint = refused({"nodes": PAIR, "lb": {"hcinterval": 1}}).hint
    assert "health_check_interval, member_timeout, slow_timeout, retry, fail_on_timeout" in hint
