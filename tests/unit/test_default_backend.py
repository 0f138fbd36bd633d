"""The default backend: netns where this machine can run it, else loopback, saying why."""

from __future__ import annotations

from types import SimpleNamespace

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


def refused_user_namespaces(monkeypatch) -> None:  # noqa: ANN001
    """An ordinary user on a machine that refuses them user namespaces (unshare fails)."""
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(network.subprocess, "run", lambda *a, **k: SimpleNamespace(
        returncode=1, stderr="unshare: unshare failed: Operation not permitted"))


def test_the_machine_check_names_what_is_missing(monkeypatch):
    refused_user_namespaces(monkeypatch)
    why = network.unavailable() or ""
    assert "user namespace" in why and "Operation not permitted" in why
    monkeypatch.setattr(network.subprocess, "run", lambda *a, **k: SimpleNamespace(
        returncode=0, stderr=""))
    assert network.unavailable() is None  # rootless: the lab's own user namespace
    monkeypatch.setattr(network.os, "geteuid", lambda: 0)
    monkeypatch.setattr(network.shutil, "which", lambda _name: None)
    assert "iproute2" in (network.unavailable() or "")
    monkeypatch.setattr(network.shutil, "which", lambda name: None if name == "keepalived"
                        else f"/usr/sbin/{name}")
    monkeypatch.setattr(network.keepalived.os.path, "exists", lambda _path: False)
    assert "keepalived" in (network.unavailable() or "")
