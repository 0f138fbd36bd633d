"""The netns backend's names and /24 claims, without root: no namespace is made here."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest

from labkit.backends.local import network as claims
from labkit.backends.netns import network
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


def test_netns_cannot_start_without_root(monkeypatch):
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    assert "rootless" in (network.unavailable() or "")
