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
    faults = links.both_ways("node1", "node2", cut=True)
    cmd = link_rules.command(layout, "node1", faults)
    assert cmd[:2] == ["sh", "-c"] and cmd[4] == link_rules.script(layout, "node1", faults)
    assert cmd[5] == link_rules.delay_script(layout, "node1", faults) and cmd[6] == "0"


def test_a_late_direction_is_queued_in_its_receiver_on_its_own_queue(layout):
    from labkit.backends.delayer import queue_of

    faults = [LinkFault("node1", "node3", delay=0.1, jitter=0.02, loss=5.0),
              LinkFault("node2", "node3", loss=50.0)]
    assert link_rules.delays(layout, "node3", faults) == [
        f"-A LABKIT-DELAY -s 172.31.240.11/32 -j NFQUEUE --queue-num "
        f"{queue_of(layout, 'node1', 'node3')} --queue-bypass"]
    assert link_rules.delays(layout, "node1", faults) == []  # one way: node3 → node1 on time
    # the loss of the late link stays nftables': dropped or held, never counted twice
    assert len(link_rules.rules(layout, "node3", faults)) == 2
    assert link_rules.command(layout, "node3", faults)[6] == "1"


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
case "$(basename "$0") $1" in
  "nft -f"|"iptables-restore --noflush") cat >> {log} ;;
  "iptables -S") [ -e {chain} ] ;;
  "iptables -C") [ -e {hooked} ] ;;
  "iptables -I") touch {hooked} ;;
esac
"""


@pytest.mark.parametrize("late, chain, restored", [(True, False, True), (False, False, False),
                                                   (False, True, True)])
def test_the_shell_writes_the_delay_chain_only_when_a_link_is_or_was_late(
        layout, tmp_path, late, chain, restored):
    """The command as a container's sh runs it, with nft and iptables stood in for by stubs
    that log what they were given: the chain is written for a late link, emptied when one was
    late before (the chain exists), left alone otherwise, and hooked into INPUT once."""
    import os
    import subprocess

    log, bin_ = tmp_path / "log", tmp_path / "bin"
    bin_.mkdir()
    for name in ("nft", "iptables", "iptables-restore"):
        stub = bin_ / name
        stub.write_text(STUB.format(log=log, chain=tmp_path / "chain",
                                    hooked=tmp_path / "hooked"))
        stub.chmod(0o755)
    if chain:
        (tmp_path / "chain").touch()
    faults = [LinkFault("node1", "node3", delay=0.05)] if late else []
    for _ in range(2):
        res = subprocess.run(link_rules.command(layout, "node3", faults), capture_output=True,
                             text=True, env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"})
        assert res.returncode == 0, res.stderr
    said = log.read_text()
    assert said.count("nft -f -") == 2
    assert (said.count("iptables-restore --noflush") == 2) is restored
    assert ("--queue-num" in said) is late
    assert said.count("iptables -I INPUT -j LABKIT-DELAY") == (1 if restored else 0)


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
        self.scripts.append(cmd[4])  # link_rules.command: the nftables script
        return SimpleNamespace(exit_code=0, output=b"")


class FakeEngine:
    def __init__(self, containers: dict[str, FakeContainer]) -> None:
        self.runs: list[dict] = []
        self.by_id = {c.id: c for c in containers.values()}
        self.containers = SimpleNamespace(run=self.run)

    def run(self, image, command, **kw):
        self.runs.append({"image": image, "command": command, **kw})
        target = self.by_id[kw["network_mode"].removeprefix("container:")]
        target.scripts.append([*kw["entrypoint"], *command][4])
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
    with pytest.raises(LabError, match="node3's container refused the link rules") as err:
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

    def nft(cmd, **_kw):
        assert cmd == link_rules.command(layout, "node2", faults)
        fed.append(cmd[4])
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


def test_a_container_switches_its_own_flapping_links_at_each_half(layout, monkeypatch):
    """Each container's `links` program puts its own rules in force as the flap stands now:
    the cut half gives its input rule, the up half none; another container's link is not its."""
    from labkit.backends.compose import delayer

    flap = LinkFault("node1", "node2", flap=10.0)
    layout.paths.links.write_text(json.dumps([asdict(flap)]))
    applied: list[tuple[str, list[LinkFault]]] = []
    monkeypatch.setattr(link_rules, "apply_here",
                        lambda lay, node, faults: applied.append((node, faults)))
    clock = [1000.0]  # a half-period boundary: the cut half runs 1000 → 1005
    monkeypatch.setattr(delayer.time, "time", lambda: clock[0])
    delayer.switch(layout, "node2")
    assert link_rules.rules(layout, "node2", applied[-1][1]) == [
        'ip saddr 172.31.240.11 counter drop comment "node1>node2 cut"']
    clock[0] = 1006.0
    delayer.switch(layout, "node2")
    assert link_rules.rules(layout, "node2", applied[-1][1]) == []
    clock[0] = 1001.0
    delayer.switch(layout, "node1")
    assert link_rules.rules(layout, "node1", applied[-1][1]) == []  # node1 → node2: node2's


def test_compose_has_a_flapper_and_a_delayer():
    assert ComposeBackend.has_flapper and ComposeBackend.links_delayed
