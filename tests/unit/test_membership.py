"""Membership heartbeats over real UDP on a /24 of loopback claimed for the test."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from labkit.appserver.membership import Membership, read_view
from labkit.backends.local import network
from labkit.layout import Layout, home
from labkit.topology import Topology


@pytest.fixture
def layout():
    rundir = home() / "membership-test"
    rundir.mkdir(parents=True, exist_ok=True)
    prefix = network.claim(rundir)
    topo = dataclasses.replace(Topology.default(3), membership_timeout=0.6)
    yield Layout(lab="membership-test", topology=topo, prefix=prefix)
    network.release(prefix, rundir)


def wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def start_all(layout: Layout) -> dict[str, Membership]:
    return {n: Membership(layout, n).start() for n in ("node1", "node2", "node3")}


def full(members: dict[str, Membership], who: list[str], view: list[str]) -> bool:
    return all(members[n].view == view for n in who)


@pytest.mark.parametrize("backend", ["local", "compose"])
def test_views_converge_and_a_silent_node_leaves_every_view(layout, backend):
    layout.backend = backend  # local: unicast to each peer; elsewhere: multicast
    members = start_all(layout)
    try:
        assert members["node1"].mode == ("unicast" if backend == "local" else "multicast")
        everyone = ["node1", "node2", "node3"]
        wait_for(lambda: full(members, everyone, everyone))
        assert all(m.quorum for m in members.values())
        assert members["node2"].coordinator == "node1"
        members["node1"].stop()
        wait_for(lambda: full(members, ["node2", "node3"], ["node2", "node3"]))
        assert members["node2"].coordinator == "node2" and members["node2"].quorum
        # the published view (what `labkit status` reads) follows the in-memory one
        wait_for(lambda: (read_view(layout, "node3") or {}).get("view") == ["node2", "node3"])
    finally:
        for m in members.values():
            m.stop()


def test_an_isolated_node_is_cut_off_and_views_disagree(layout):
    members = start_all(layout)
    try:
        everyone = ["node1", "node2", "node3"]
        wait_for(lambda: full(members, everyone, everyone))
        layout.paths.isolated.write_text(json.dumps(["node3"]))
        wait_for(lambda: members["node3"].view == ["node3"]
                 and full(members, ["node1", "node2"], ["node1", "node2"]))
        assert not members["node3"].quorum and members["node1"].quorum
        layout.paths.isolated.write_text("[]")
        wait_for(lambda: full(members, everyone, everyone))
    finally:
        for m in members.values():
            m.stop()


def test_a_node_that_regains_quorum_or_stood_still_waits_before_judging(layout):
    m = Membership(layout, "node1")  # not started: driven by hand
    m.grace_until = 0.0
    m._update()
    assert m.view == ["node1"] and not m.quorum
    m.heard["node2"] = time.monotonic()
    m._update()
    assert m.view == ["node1", "node2"] and m.quorum
    assert not m.settled  # node3 may simply not have been heard from yet
    m.grace_until = 0.0
    assert m.settled
    m._last_loop = time.monotonic() - 10  # this node was frozen for ten seconds
    m.heard["node2"] = time.monotonic() - 10
    m._update()
    assert m.view == ["node1", "node2"], "a stall is no proof that peers died"
    assert not m.settled


def test_a_nudge_reaches_every_peer_at_once_and_not_through_an_isolation(layout):
    """A node that queued sub-jobs nudges the others over the heartbeats' path: each hears it
    at once (not at its next poll), it is no heartbeat (nobody's view moves because of it), and
    an isolated node's nudge goes nowhere, as its heartbeats do."""
    members = start_all(layout)
    heard: dict[str, list[str]] = {n: [] for n in members}
    for n, m in members.items():
        m.on_nudge = heard[n].append
    try:
        everyone = ["node1", "node2", "node3"]
        wait_for(lambda: full(members, everyone, everyone))
        members["node1"].nudge("jobs")
        wait_for(lambda: heard["node2"] == ["jobs"] and heard["node3"] == ["jobs"], timeout=2)
        assert heard["node1"] == []  # its own news
        layout.paths.isolated.write_text(json.dumps(["node1"]))
        members["node1"].nudge("jobs")
        time.sleep(0.5)
        assert heard["node2"] == ["jobs"] and heard["node3"] == ["jobs"]
    finally:
        layout.paths.isolated.write_text("[]")
        for m in members.values():
            m.stop()
