"""The cluster spec: the default shape, YAML loading, and clear errors for bad specs."""

import pytest

from labkit.errors import LabError
from labkit.topology import Topology


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


@pytest.mark.parametrize("body, words", [
    ({"nodes": {"n1": {"roles": ["lb", "app"]}}}, "between 2 and 16"),
    ({"nodes": {"n1": {"roles": ["lb", "app"]}, "n2": {"roles": ["wizard"]}}}, "unknown role"),
    ({"nodes": {"n1": {"roles": ["app"]}, "n2": {"roles": ["app"]}}}, "'lb' role"),
    ({"nodes": {"N 1": {"roles": ["lb"]}, "n2": {"roles": ["app"]}}}, "bad node name"),
    ({"nodes": {f"n{i}": {"roles": ["lb", "app"]} for i in range(3)}}, "at most 2"),
    ({"nodes": {"n1": {"roles": ["lb", "app"]}, "n2": {"roles": ["app"]}}, "colour": 1},
     "unknown topology keys"),
    ({"nodes": {"n1": {"roles": ["lb", "app"], "priority": 300}, "n2": {}}}, "priority"),
    ({"nodes": []}, "'nodes' mapping"),
])
def test_bad_specs_say_what_is_wrong(body, words):
    with pytest.raises(LabError, match=words):
        Topology.from_dict(body)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(LabError, match="does not exist"):
        Topology.load(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes: [unclosed")
    with pytest.raises(LabError, match="not valid YAML"):
        Topology.load(bad)


def test_unknown_node_lists_the_real_ones():
    with pytest.raises(LabError) as err:
        Topology.default().node("node9")
    assert "node1, node2, node3, node4" in err.value.hint


@pytest.mark.parametrize("n", [1, 17])
def test_node_count_bounds(n):
    with pytest.raises(LabError):
        Topology.default(n)
