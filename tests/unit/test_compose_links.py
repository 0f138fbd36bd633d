"""Link faults on the compose backend, without an engine: the exact nftables script each container
gets, how the backend writes it (exec, a helper for a paused container, nothing for a stopped one,
the old set back when one container refuses), and a restarted container's entry point putting its
rules back."""

from __future__ import annotations

import json
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from labkit import links
from labkit.backends.compose import link_rules
from labkit.backends.compose import node as entry
from labkit.backends.compose.backend import HELPER_LABEL, ComposeBackend
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.links import LinkFault
from labkit.topology import Topology


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    lay = Layout(lab="unit", topology=Topology.default(), prefix="172.31.240",
                 secrets=Layout.new_secrets(), backend="compose")
    lay.save()
    return lay


def test_a_cut_both_ways_is_one_input_rule_in_each_receiver(layout):
    faults = links.both_ways("node1", "node2", cut=True)
    assert link_rules.script(layout, "node2", faults) == """\
table inet links {}
delete table inet links
table inet links {
    chain input {
        type filter hook input priority 0; policy accept;
        ip saddr 172.31.240.11 counter drop comment "node1>node2 cut"
    }
}
"""
    assert link_rules.rules(layout, "node1", faults) == [
        'ip saddr 172.31.240.12 counter drop comment "node2>node1 cut"']


def test_a_one_way_cut_is_dropped_only_where_it_arrives(layout):
    faults = [LinkFault("node1", "node3", cut=True)]
    assert link_rules.rules(layout, "node3", faults) == [
        'ip saddr 172.31.240.11 counter drop comment "node1>node3 cut"']
    # the sender keeps no rule: a drop in its OUTPUT would fail its sendto with EPERM
    assert link_rules.rules(layout, "node1", faults) == []


def test_a_node_without_faults_arriving_gets_its_table_removed_and_nothing_else(layout):
    faults = [LinkFault("node1", "node3", cut=True)]
    assert link_rules.script(layout, "node2", faults) == \
        "table inet links {}\ndelete table inet links\n"
    assert link_rules.script(layout, "node3", []) == \
        "table inet links {}\ndelete table inet links\n"


def test_loss_and_rate_are_numgen_and_limit_rules_on_the_receiver(layout):
    faults = [LinkFault("node2", "node4", loss=50), LinkFault("node4", "node2", loss=0.5,
                                                              rate=1_000_000)]
    assert link_rules.rules(layout, "node4", faults) == [
        'ip saddr 172.31.240.12 numgen random mod 10000 < 5000 counter drop '
        'comment "node2>node4 loss"']
    assert link_rules.rules(layout, "node2", faults) == [
        'ip saddr 172.31.240.14 numgen random mod 10000 < 50 counter drop '
        'comment "node4>node2 loss"',
        'ip saddr 172.31.240.14 limit rate over 125000 bytes/second counter drop '
        'comment "node4>node2 rate"']


def test_a_partition_gives_each_node_the_other_sides_addresses(layout):
    faults = links.across(links.parse_partition([n.name for n in layout.nodes],
                                                "node1,node2 / node3"))
    assert [r.split()[2] for r in link_rules.rules(layout, "node3", faults)] == \
        ["172.31.240.11", "172.31.240.12"]
    assert [r.split()[2] for r in link_rules.rules(layout, "node1", faults)] == ["172.31.240.13"]
    assert link_rules.rules(layout, "node4", faults) == []


def test_the_script_reaches_nft_as_one_argument_of_sh(layout):
    script = link_rules.script(layout, "node1", links.both_ways("node1", "node2", cut=True))
    cmd = link_rules.command(script)
    assert cmd[:3] == ["sh", "-c", 'printf "%s" "$1" | nft -f -'] and cmd[-1] == script


# -- the backend, on fake containers --------------------------------------------------------------
class FakeContainer:
    def __init__(self, name: str, status: str = "running", refuse: bool = False) -> None:
        self.name, self.id, self.status, self.refuse = name, f"id-{name}", status, refuse
        self.scripts: list[str] = []

    def reload(self) -> None:
        pass

    def exec_run(self, cmd):
        assert self.status == "running", "Docker refuses exec in a paused container"
        if self.refuse:
            return SimpleNamespace(exit_code=1, output=b"Error: Could not process rule")
        self.scripts.append(cmd[-1])
        return SimpleNamespace(exit_code=0, output=b"")


class FakeEngine:
    def __init__(self, containers: dict[str, FakeContainer]) -> None:
        self.runs: list[dict] = []
        self.by_id = {c.id: c for c in containers.values()}
        self.containers = SimpleNamespace(run=self.run)

    def run(self, image, command, **kw):
        self.runs.append({"image": image, "command": command, **kw})
        target = self.by_id[kw["network_mode"].removeprefix("container:")]
        target.scripts.append(command[-1])
        return b""


def backend_with(layout: Layout, containers: dict[str, FakeContainer]) -> ComposeBackend:
    backend = ComposeBackend(layout)
    backend._engine = FakeEngine(containers)
    backend.containers = lambda: containers  # type: ignore[method-assign]
    backend.is_running = lambda: True  # type: ignore[method-assign]
    return backend


def test_every_running_container_gets_its_table_and_a_paused_one_through_a_helper(layout):
    cs = {"node1": FakeContainer("node1"), "node2": FakeContainer("node2", "paused"),
          "node3": FakeContainer("node3", "exited"), "node4": FakeContainer("node4")}
    backend = backend_with(layout, cs)
    backend.fault_links(links.both_ways("node1", "node2", cut=True), "cut")
    assert cs["node1"].scripts == [link_rules.script(layout, "node1", backend.links())]
    assert "ip saddr 172.31.240.11" in cs["node2"].scripts[0]  # written while paused
    helper = backend.engine.runs[0]
    assert helper["network_mode"] == "container:id-node2" and helper["remove"]
    assert helper["cap_add"] == ["NET_ADMIN"]
    assert helper["labels"] == {HELPER_LABEL: str(layout.rundir)}  # `down` removes a stray one
    assert cs["node3"].scripts == []  # stopped: its entry point restores them when it starts
    assert cs["node4"].scripts == ["table inet links {}\ndelete table inet links\n"]
    assert json.loads(layout.paths.links.read_text()) == \
        [asdict(f) for f in links.both_ways("node1", "node2", cut=True)]


def test_a_container_refusing_its_rules_leaves_the_old_set_everywhere(layout):
    cs = {"node1": FakeContainer("node1"), "node2": FakeContainer("node2"),
          "node3": FakeContainer("node3", refuse=True), "node4": FakeContainer("node4")}
    backend = backend_with(layout, cs)
    old = [LinkFault("node2", "node1", loss=5)]
    layout.paths.links.write_text(json.dumps([asdict(f) for f in old]))
    with pytest.raises(LabError, match="nftables in node3's container refused") as err:
        backend.fault_links(links.both_ways("node1", "node3", cut=True), "cut")
    assert "nothing changed" in err.value.hint
    assert backend.links() == old
    # node1 and node2 were changed, then given back exactly the old set; node4 never touched
    assert cs["node1"].scripts[-1] == link_rules.script(layout, "node1", old)
    assert cs["node2"].scripts[-1] == link_rules.script(layout, "node2", old)
    assert cs["node4"].scripts == []


def test_compose_says_it_has_link_faults():
    assert ComposeBackend.no_link_faults is None
    assert "receiving container" in ComposeBackend.link_rules


def test_a_compose_topology_may_declare_faulty_links():
    from labkit.backends import check_topology

    topo = Topology.from_dict({"nodes": {"node1": {"roles": ["lb", "app"]},
                                         "node2": {"roles": ["lb", "app"]}, "node3": {}},
                               "links": [{"endpoints": ["node1", "node3"], "cut": True}]})
    check_topology("compose", topo)  # no refusal


# -- a restarted container ------------------------------------------------------------------------
def test_a_restarted_container_puts_its_rules_back_and_says_so(layout, monkeypatch):
    faults = links.both_ways("node1", "node2", cut=True)
    layout.paths.links.write_text(json.dumps([asdict(f) for f in faults]))
    fed: list[str] = []

    def nft(cmd, input, **_kw):
        assert cmd == ["nft", "-f", "-"]
        fed.append(input)
        return SimpleNamespace(returncode=0, stderr="")
    monkeypatch.setattr(link_rules.subprocess, "run", nft)
    msg = entry.restore_links(layout, "node2")
    assert fed == [link_rules.script(layout, "node2", faults)]
    assert "node2 started with its link rules back (1 input rule" in msg
    event = json.loads(layout.events_path.read_text().splitlines()[-1])
    assert event["kind"] == "link_restore" and event["ok"] is True


def test_a_restarted_container_that_cannot_restore_its_rules_says_they_are_gone(layout,
                                                                                 monkeypatch):
    layout.paths.links.write_text(json.dumps([asdict(LinkFault("node1", "node2", cut=True))]))
    monkeypatch.setattr(link_rules.subprocess, "run", lambda *a, **k: SimpleNamespace(
        returncode=1, stderr="Error: Operation not permitted"))
    msg = entry.restore_links(layout, "node2")
    assert "WITHOUT its link rules" in msg and "Operation not permitted" in msg
    event = json.loads(layout.events_path.read_text().splitlines()[-1])
    assert event["ok"] is False


def test_no_link_fault_in_force_runs_no_nft(layout, monkeypatch):
    monkeypatch.setattr(link_rules.subprocess, "run", lambda *a, **k: pytest.fail("ran nft"))
    assert entry.restore_links(layout, "node1") is None
