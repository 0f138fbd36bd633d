"""The default backend: netns where this machine can run it, else loopback, saying why."""

from __future__ import annotations

import pytest

from labkit.backends import resolve_backend
from labkit.backends.netns import network


def test_a_new_lab_gets_netns_where_the_machine_can_run_it(monkeypatch):
    monkeypatch.setattr(network, "unavailable", lambda: None)
    said: list[str] = []
    assert resolve_backend("auto", None, said.append) == "netns"
    assert said == ["backend auto: netns (a network namespace per node: faults cut real packets)"]


def test_elsewhere_loopback_and_the_reason_and_what_loopback_cannot_cut(monkeypatch):
    monkeypatch.setattr(network, "unavailable", lambda: "the netns backend needs root")
    said: list[str] = []
    assert resolve_backend("auto", None, said.append) == "local"
    assert "needs root" in said[0] and "links cannot be cut" in said[0]


@pytest.mark.parametrize("name", ["local", "netns", "compose"])
def test_a_backend_named_is_the_backend_used(monkeypatch, name):
    monkeypatch.setattr(network, "unavailable", lambda: pytest.fail("not asked"))
    assert resolve_backend(name, None, print) == name


def test_the_machine_check_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    assert "root" in (network.unavailable() or "")
    monkeypatch.setattr(network.os, "geteuid", lambda: 0)
    monkeypatch.setattr(network.shutil, "which", lambda _name: None)
    assert "iproute2" in (network.unavailable() or "")
    monkeypatch.setattr(network.shutil, "which", lambda name: None if name == "keepalived"
                        else f"/usr/sbin/{name}")
    monkeypatch.setattr(network.keepalived.os.path, "exists", lambda _path: False)
    assert "keepalived" in (network.unavailable() or "")
