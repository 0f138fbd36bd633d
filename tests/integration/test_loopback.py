"""The loopback (local) backend, where a machine cannot run network namespaces: the lab says
plainly which faults are real there and which are not.

The session's lab runs on the default backend (netns where this machine can run it), so this
module starts a small lab of its own on loopback."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from labkit.errors import LabError
from labkit.topology import Topology
from tests.integration.conftest import running_lab
from tests.integration.test_vip import wait_answer, wait_owner

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def loopback():
    with running_lab("pytest-loopback", topology=Topology.default(2), backend="local") as lab:
        yield lab


def test_status_names_the_loopback_network(loopback):
    st = loopback.status()
    assert (st["backend"], st["network"]) == ("local", "loopback")
    assert st["vip"]["address"].startswith(loopback.layout.prefix + ".")


def test_a_link_cut_is_refused_with_the_reason_and_changes_nothing(loopback):
    with pytest.raises(LabError, match="loopback") as err:
        loopback.cut("node1", "node2")
    assert "--backend netns" in (err.value.hint or "")
    assert loopback.links() == []


def test_isolating_the_owner_says_what_was_cut_and_no_more(loopback):
    """The isolated VRRP master keeps its election alone (split brain); the message says what was
    cut (nftables as root, the segment only without), never that every packet was."""
    from labkit.backends.local import firewall

    owner = loopback.status()["vip"]["owner"]
    other = ({"node1", "node2"} - {owner}).pop()
    message = loopback.fail(owner, "isolate")
    try:
        assert "every frame" not in message and "all traffic" not in message
        wait_owner(loopback, other)
        wait_answer(loopback.vip_url + "/api/node", loopback.auth())
        vip = loopback.status()["vip"]
        assert vip["views"][other] == "master" and vip["views"][owner] == "master"
        assert vip["split_brain"] is True and set(vip["believers"]) == {owner, other}
        if firewall.available():
            assert "nftables" in message
            with pytest.raises(httpx.HTTPError):
                httpx.get(loopback.layout.app_url(owner) + "/health", timeout=1)
        else:
            assert "cannot be cut" in message
    finally:
        loopback.recover(owner)
    deadline = time.monotonic() + 15
    while loopback.status()["vip"]["split_brain"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not loopback.status()["vip"]["split_brain"]


def test_a_forged_advert_from_another_process_does_not_move_the_vip(loopback):
    """Issue 14: on loopback anyone can send the segment a datagram. An advert that names the
    other LB node as master, unsigned or signed and sent from the wrong address, moves nothing."""
    from labkit.lb import advert

    layout = loopback.layout
    owner = loopback.status()["vip"]["owner"]
    other = ({"node1", "node2"} - {owner}).pop()
    claim = {"node": other, "address": layout.address(other), "priority": 255, "state": "master"}
    since = time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(20):
            s.sendto(json.dumps({**claim, "ts": time.time()}).encode(),
                     (layout.vip, layout.ports.vrrp))
            s.sendto(advert.sign(layout, claim), (layout.vip, layout.ports.vrrp))
            time.sleep(0.05)
    time.sleep(1)
    assert loopback.status()["vip"]["owner"] == owner
    assert not [e for e in loopback.events(since) if e["kind"] == "vip"], "the VIP moved"
