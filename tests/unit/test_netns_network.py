"""The netns backend's names and /24 claims, without root: no namespace is made here."""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import pytest

from labkit.backends.local import network as claims
from labkit.backends.netns import network
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import NodeSpec, Topology

IFNAMSIZ = 15  #: Linux's longest interface name (16 bytes with the NUL)


@pytest.fixture(autouse=True)
def claims_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS", tmp_path / "claims")


def test_interface_names_fit_the_kernels_limit_with_the_longest_names():
    longest = "n" + "9" * 15  # 16 characters: the longest node name labkit allows
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec(longest, ("lb", "app"))))
    layout = Layout(lab="x", topology=topo, prefix="10.213.254")
    names = [network.host_link(layout), *(network.port(layout, n.name) for n in topo.nodes)]
    assert all(len(name) <= IFNAMSIZ for name in names), names
    assert network.namespace(layout, longest) == f"lk-254-{longest}"


def test_a_prefix_an_interface_already_uses_is_never_claimed(tmp_path, monkeypatch):
    busy = {"eth9": [SimpleNamespace(family=socket.AF_INET, address="10.213.1.7")]}
    monkeypatch.setattr(network.psutil, "net_if_addrs", lambda: busy)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    first, second = network.claim(a), network.claim(b)
    assert first == "10.213.2" and second == "10.213.3"  # .1 is in use, .2 is a's


def test_without_root_a_lab_claims_a_loopback_24_and_is_rootless(tmp_path, monkeypatch):
    """An ordinary user's netns lab lives in a user namespace, on a 127.x.y /24 the host can
    hold too (the forwarder listens there); root's on 10.213.y."""
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(claims, "CLAIMS", tmp_path / "claims")
    monkeypatch.setattr(claims, "listening_prefixes", lambda: set())
    prefix = network.claim(tmp_path)
    assert prefix.startswith("127.")
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("lb",))))
    rootless, root = Layout("a", topo, prefix), Layout("b", topo, "10.213.4")
    assert network.rootless(rootless) and not network.rootless(root)
    assert network.mode(rootless) == "netns (rootless: user namespace)"
    assert network.mode(root) == "netns (root)"
    assert network.enter(root) == []  # root runs its commands where it is


def test_a_rootless_lab_whose_holder_is_gone_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("lb",))))
    lay = Layout("gone", topo, "127.0.9")
    lay.paths.lab_services.mkdir(parents=True)
    lay.paths.holder.write_text("999999999")  # no such process
    with pytest.raises(LabError) as err:
        network.enter(lay)
    assert "holder" in err.value.message and "labkit up" in (err.value.hint or "")
    assert network.leftovers(lay) == []
    lay.paths.holder.write_text(str(os.getpid()))  # alive, but not a holder: a reused pid
    assert network.holder_pid(lay) is None
