"""`status` never names a dead node as the VIP's owner, whatever a stale record says.

The local segment keeps its last owner in segment.json until another node claims the VIP, so
with both LB nodes crashed it still named node2: `Backend.vip_summary` (shared by every backend)
now drops an owner whose node is crashed or down. No process runs here: the records are files.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labkit import atomic
from labkit.backends import check_topology
from labkit.backends.local.backend import LocalBackend
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import Topology


@pytest.fixture
def backend(tmp_path, monkeypatch) -> LocalBackend:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    layout = Layout(lab="vip", topology=Topology.default(3), prefix="127.0.250")
    layout.paths.root.mkdir(parents=True)
    atomic.write_json(layout.paths.segment, {"owner": "node2", "claimants": ["node2"],
                                             "isolated": [], "updated": 0})
    for node, state in (("node1", "backup"), ("node2", "master")):
        layout.paths.node(node).mkdir(parents=True)
        atomic.write_json(layout.paths.vrrp(node), {"node": node, "state": state})
    return LocalBackend(layout)


def crash(backend: LocalBackend, *nodes: str) -> None:
    atomic.write_json(backend.layout.paths.faults, {n: "crashed" for n in nodes})


def test_both_lb_nodes_crashed_leaves_the_vip_with_nobody(backend):
    crash(backend, "node1", "node2")
    vip = backend.vip()
    assert vip["owner"] is None
    assert vip["claimants"] == []
    assert vip["views"] == {"node1": "down", "node2": "down"}


def test_a_crashed_owner_is_no_owner_while_its_peer_lives(backend):
    crash(backend, "node2")
    assert backend.vip()["owner"] is None


def test_a_live_owner_is_still_named(backend):
    crash(backend)
    # no supervisor runs in this test, so "up" comes from the fault-free state of a stub
    backend.node_state = lambda node: "up"  # type: ignore[method-assign]
    assert backend.vip()["owner"] == "node2"


def test_netns_says_at_once_where_it_cannot_own_a_network(monkeypatch):
    """Without root and without user namespaces (a container's seccomp, say)."""
    from labkit.backends.netns import network

    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setattr(network.subprocess, "run", lambda *a, **k: SimpleNamespace(
        returncode=1, stderr="unshare: unshare failed: Operation not permitted"))
    with pytest.raises(LabError) as err:
        check_topology("netns", None)
    assert "user namespace" in err.value.message and "rootless" in err.value.message
    assert "--backend local" in (err.value.hint or "")
