"""Link faults as data (labkit.links): bad input is one clear error, and a backend without a real
network between its nodes refuses every link fault and changes nothing."""

from __future__ import annotations

import pytest

from labkit import links
from labkit.backends import backend_for
from labkit.backends.netns import network
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import Topology

NODES = ["node1", "node2", "node3", "node4"]


def test_a_partition_cuts_every_link_across_both_ways_and_nothing_within():
    sides = links.parse_partition(NODES, "node1,node2 / node3")
    assert sides == [["node1", "node2"], ["node3"]]
    cut = {(f.src, f.dst) for f in links.across(sides)}
    assert cut == {("node1", "node3"), ("node3", "node1"), ("node2", "node3"), ("node3", "node2")}
    assert all(f.cut for f in links.across(sides))


@pytest.mark.parametrize("text, says", [
    ("node1,node2", "two sides"), ("node1 / ", "two sides"), ("node1 / node9", "no node 'node9'"),
    ("node1,node2 / node2", "node2 is on two sides")])
def test_a_bad_partition_says_what_is_wrong(text, says):
    with pytest.raises(LabError, match=says):
        links.parse_partition(NODES, text)


def test_loss_and_rate_are_read_as_tc_writes_them():
    assert links.parse_loss("5%") == 5.0 and links.parse_loss("0.5") == 0.5
    assert links.parse_rate("1mbit") == 1_000_000 and links.parse_rate("500kbit") == 500_000
    assert links.human_rate(1_000_000) == "1mbit"
    for bad in ("0%", "120%", "lots"):
        with pytest.raises(LabError, match="not a share"):
            links.parse_loss(bad)
    for bad in ("1mb", "fast", "0kbit"):
        with pytest.raises(LabError, match="not a bit rate"):
            links.parse_rate(bad)


def test_a_link_needs_two_known_nodes():
    with pytest.raises(LabError, match="no node 'node7'"):
        links.check_pair(NODES, "node1", "node7")
    with pytest.raises(LabError, match="two different nodes"):
        links.check_pair(NODES, "node2", "node2")


def test_the_switch_rules_match_one_direction_of_one_link(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    lay = Layout(lab="unit", topology=Topology.default(), prefix="10.213.7",
                 secrets=Layout.new_secrets(), backend="netns")
    one_way = network._link_rule(lay, links.LinkFault("node1", "node2", cut=True))
    assert one_way == [f'iifname "{network.port(lay, "node1")}" oifname '
                       f'"{network.port(lay, "node2")}" counter drop comment "node1>node2 cut"']
    lossy = network._link_rule(lay, links.LinkFault("node2", "node1", loss=5, rate=1_000_000))
    assert "numgen random mod 10000 < 500" in lossy[0]
    assert "limit rate over 125000 bytes/second" in lossy[1]


def test_the_local_backend_refuses_link_faults_and_changes_nothing(saved_layout):
    lay = saved_layout
    backend = backend_for(lay)
    with pytest.raises(LabError, match="cannot put faults on links: its nodes share") as err:
        backend.fault_links(links.both_ways("node1", "node2", cut=True), "cut")
    assert "--backend netns" in err.value.hint
    assert not lay.paths.links.exists() and backend.links() == []


BASE = {"nodes": {"node1": {"roles": ["lb", "app"]}, "node2": {"roles": ["lb", "app"]},
                  "node3": {}}}


def test_a_topology_declares_faulty_links_and_keeps_them_through_layout_json():
    topo = Topology.from_dict({**BASE, "links": [
        {"endpoints": ["node1", "node3"], "loss": "5%"},
        {"endpoints": ["node2", "node3"], "cut": True, "one_way": True}]})
    assert [f.describe() for f in topo.link_faults()] == [
        "node1 → node3: 5% loss", "node3 → node1: 5% loss", "node2 → node3: cut"]
    assert Topology.from_dict(topo.to_dict()) == topo


@pytest.mark.parametrize("link, says", [
    ({"endpoints": ["node1", "node9"], "cut": True}, "links.0.endpoints: the lab has no node"),
    ({"endpoints": ["node1", "node1"], "cut": True}, "two different nodes"),
    ({"endpoints": ["node1", "node3"]}, "says nothing about the link"),
    ({"endpoints": ["node1", "node3"], "cut": True, "loss": "5%"}, "a cut link carries nothing"),
    ({"endpoints": ["node1", "node3"], "rate": "fast"}, "links.0.rate: rate 'fast'"),
    ({"endpoints": ["node1", "node3"], "jitter": "3ms"}, "links.0.jitter: jitter varies a delay"),
    ({"endpoints": ["node1", "node3"], "delay": "50"}, "links.0.delay: delay '50'"),
    ({"endpoints": ["node1", "node3"], "delay": "5ms", "jitter": "10ms"},
     "links.0.jitter: jitter 10ms is more than the delay 5ms"),
    ({"endpoints": ["node1", "node3"], "cut": True, "delay": "5ms"}, "a cut link carries"),
    ({"endpoints": ["node1", "node3"], "speed": "5ms"}, "links.0.speed: unknown key")])
def test_a_bad_declared_link_is_one_clear_error(link, says):
    with pytest.raises(LabError, match=says):
        Topology.from_dict({**BASE, "links": [link]})


def test_the_local_backend_refuses_a_topology_with_faulty_links_before_anything_starts():
    from labkit.backends import check_topology
    topo = Topology.from_dict({**BASE, "links": [{"endpoints": ["node1", "node3"], "cut": True}]})
    with pytest.raises(LabError, match="cannot apply: its nodes share") as err:
        check_topology("local", topo)
    assert "--backend netns" in err.value.hint
    check_topology("local", Topology.from_dict(BASE))  # no links: nothing to refuse


# -- flapping links -------------------------------------------------------------------------------
FLAP = links.LinkFault("node1", "node2", flap=10.0)


@pytest.mark.parametrize("text, seconds", [("10s", 10.0), ("10", 10.0), ("2500ms", 2.5)])
def test_a_flap_period_is_read_in_seconds_or_milliseconds(text, seconds):
    assert links.parse_period(text) == seconds


@pytest.mark.parametrize("text", ["0s", "500ms", "2h", "fast", "7200"])
def test_a_flap_period_out_of_range_or_unreadable_is_refused(text):
    with pytest.raises(LabError, match="flap period"):
        links.parse_period(text)


def test_a_flapping_link_is_cut_the_first_half_of_each_period_and_up_the_second():
    steady = links.LinkFault("node2", "node3", loss=5.0)
    assert links.in_force([FLAP, steady], 1000.0) == [
        links.LinkFault("node1", "node2", cut=True), steady]  # 1000 s: a down half begins
    assert links.in_force([FLAP, steady], 1004.9) == [
        links.LinkFault("node1", "node2", cut=True), steady]
    assert links.in_force([FLAP, steady], 1005.0) == [steady]  # up half
    assert links.in_force([FLAP, steady], 1010.0)[0].cut  # and down again


def test_the_next_change_is_the_nearest_half_period_boundary_or_none():
    assert links.next_change([FLAP], 1001.0) == 1005.0
    assert links.next_change([FLAP], 1005.0) == 1010.0
    fast = links.LinkFault("node2", "node3", flap=2.0)
    assert links.next_change([FLAP, fast], 1001.5) == 1002.0
    assert links.next_change([links.LinkFault("node1", "node2", cut=True)], 1001.0) is None


def test_a_flapping_link_is_described_as_what_it_does():
    assert FLAP.describe() == "node1 → node2: flapping, cut 5s then up 5s, over and over"


class Recording:
    """The netns backend with its rules recorded instead of given to nftables."""

    def __init__(self, layout: Layout) -> None:
        from labkit.backends.netns.backend import NetnsBackend

        self.backend = NetnsBackend(layout)
        self.applied: list[list[links.LinkFault]] = []
        self.backend._apply_links = self.applied.append  # type: ignore[method-assign]
        self.backend.is_running = lambda: True  # type: ignore[method-assign]


def test_the_flapper_puts_each_half_in_force_and_never_undoes_a_heal(saved_layout, monkeypatch):
    lab = Recording(saved_layout)
    clock = [1000.0]
    monkeypatch.setattr("labkit.backends.base.time.time", lambda: clock[0])
    lab.backend.fault_links([FLAP], "flap")
    assert lab.applied[-1] == [links.LinkFault("node1", "node2", cut=True)]
    clock[0] = 1005.0
    lab.backend.keep_flapping()
    assert lab.applied[-1] == []  # up half
    lab.backend.heal_links()
    clock[0] = 1010.0
    lab.backend.keep_flapping()  # a flapper waking after the heal reads the record again
    assert lab.applied[-1] == [] and lab.backend.links() == []


def test_a_backend_without_a_flapper_refuses_a_flapping_link(saved_layout):
    lab = Recording(saved_layout)
    lab.backend.has_flapper = False
    with pytest.raises(LabError, match="cannot flap links yet"):
        lab.backend.fault_links([FLAP], "flap")
    assert lab.applied == [] and not saved_layout.paths.links.exists()


def test_the_links_keeper_switches_a_flapping_link_when_its_half_ends(saved_layout, monkeypatch):
    from labkit.backends.flapper import Flapper

    lab = Recording(saved_layout)
    clock = [1000.0]
    monkeypatch.setattr("labkit.backends.base.time.time", lambda: clock[0])
    monkeypatch.setattr("labkit.backends.flapper.time.time", lambda: clock[0])
    lab.backend.fault_links([FLAP], "flap")
    flapper = Flapper(lab.backend.links, lab.backend.keep_flapping)
    assert flapper.tick() == 5.0  # the cut half ends at 1005
    applied = len(lab.applied)
    clock[0] = 1004.0
    assert flapper.tick() == 1.0 and len(lab.applied) == applied  # not yet: nothing rewritten
    clock[0] = 1005.0
    flapper.tick()
    assert lab.applied[-1] == []  # the up half
    lab.backend.heal_links()
    assert flapper.tick() is None  # nothing flaps: no switch due
