"""Late links (`labkit link A B --delay 50ms --jitter 10ms`): the delay read as tc writes it, the
NFQUEUE messages the delayer speaks, and the delayer's own schedule, each against a case that
must fail. The frames themselves are held back in test_netns (real namespaces)."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from labkit import links
from labkit.backends import check_topology, delayer, nfqueue
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import Topology


@pytest.mark.parametrize("text, seconds", [("50ms", 0.05), ("0.05s", 0.05), ("2s", 2.0),
                                           ("1.5ms", 0.0015)])
def test_a_delay_is_read_with_its_unit(text, seconds):
    assert links.parse_delay(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["50", "0ms", "11s", "soon", "-5ms"])
def test_a_delay_without_a_unit_or_out_of_range_is_refused(text):
    with pytest.raises(LabError, match="not a time above 0"):
        links.parse_delay(text)


def test_a_late_link_is_described_as_what_it_does():
    late = links.LinkFault("node1", "node2", delay=0.05, jitter=0.01, loss=5.0)
    assert late.describe() == "node1 → node2: 5% loss, 50 ms late ± 10 ms"
    assert links.LinkFault("node1", "node2", delay=1.5).describe() == "node1 → node2: 1.5 s late"


def test_the_loopback_backend_refuses_a_declared_delay_before_anything_starts():
    topo = Topology.from_dict({"nodes": {"node1": {"roles": ["lb", "app"]},
                                         "node2": {"roles": ["lb", "app"]}},
                               "links": [{"endpoints": ["node1", "node2"], "delay": "50ms"}]})
    with pytest.raises(LabError, match="cannot apply: its nodes share"):
        check_topology("local", topo)
    check_topology("compose", topo)  # each container's delayer holds them back
    check_topology("netns", topo)  # the switch's
    assert [f.delay for f in topo.link_faults()] == [0.05, 0.05]


def test_a_compose_container_binds_the_queues_of_every_direction_arriving_at_it(
        tmp_path, monkeypatch):
    import json
    from dataclasses import asdict

    from labkit.backends.compose import delayer as compose_delayer

    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    lay = Layout(lab="unit", topology=Topology.default(), prefix="172.31.240",
                 secrets=Layout.new_secrets(), backend="compose")
    lay.save()
    assert compose_delayer.incoming(lay, "node3") == sorted(
        delayer.queue_of(lay, n, "node3") for n in ("node1", "node2", "node4"))
    lay.paths.links.write_text(json.dumps([asdict(links.LinkFault("node1", "node3", delay=0.1,
                                                                  jitter=0.02)),
                                           asdict(links.LinkFault("node3", "node1", delay=0.3))]))
    assert compose_delayer.lateness(lay, "node3") == {
        delayer.queue_of(lay, "node1", "node3"): (0.1, 0.02)}  # node3 → node1 is node1's


def test_each_direction_of_each_link_has_its_own_queue(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    lay = Layout(lab="unit", topology=Topology.default(), prefix="10.213.7",
                 secrets=Layout.new_secrets(), backend="netns")
    queues = delayer.link_queues(lay)
    assert len(queues) == 4 * 3 and len(set(queues)) == 12
    assert queues[delayer.queue_of(lay, "node2", "node1")] == ("node2", "node1")
    assert delayer.queue_of(lay, "node1", "node2") != delayer.queue_of(lay, "node2", "node1")


# -- the netlink messages -----------------------------------------------------------------------
def _packet(queue: int, packet_id: int) -> bytes:
    """A queued-packet notice as the kernel sends it: nlmsghdr, nfgenmsg, NFQA_PACKET_HDR."""
    attr = struct.pack("=HH", 4 + 7, nfqueue.PACKET_HDR) + struct.pack("!IHB", packet_id,
                                                                        0x0800, 2) + b"\0"
    body = struct.pack("=BB", socket.AF_INET, 0) + struct.pack("!H", queue) + attr
    return struct.pack("=IHHII", 16 + len(body), (3 << 8) | 0, 0, 0, 0) + body


def test_a_queued_packet_notice_gives_its_queue_and_id():
    data = _packet(1001, 77) + _packet(1064, 78)
    assert list(nfqueue.parse(data)) == [(1001, 77, 0), (1064, 78, 0)]


def test_an_error_answer_is_told_apart_from_a_packet():
    error = struct.pack("=IHHII", 16 + 4, nfqueue.NLMSG_ERROR, 0, 1, 0) + struct.pack("=i", -16)
    assert list(nfqueue.parse(error)) == [(0, None, -16)]


def test_a_verdict_accepts_that_packet_of_that_queue():
    msg = nfqueue.verdict(1001, 77)
    length, kind, flags, _seq, _pid = struct.unpack_from("=IHHII", msg)
    assert length == len(msg) and kind == (3 << 8) | 1 and flags == nfqueue.NLM_F_REQUEST
    assert struct.unpack_from("!H", msg, 18)[0] == 1001
    assert struct.unpack_from("!II", msg, 24) == (nfqueue.NF_ACCEPT, 77)


def test_binding_asks_for_metadata_only():
    bind, params, _maxlen = nfqueue.bind_messages(5, 100)
    assert struct.unpack_from("!BxH", bind, 24) == (nfqueue.CMD_BIND, socket.AF_INET)
    assert struct.unpack_from("!IB", params, 24) == (0, nfqueue.COPY_META)


# -- the delayer's schedule ---------------------------------------------------------------------
class FakeQueues:
    def __init__(self) -> None:
        self.waiting: list[tuple[int, int]] = []
        self.released: list[tuple[int, int]] = []

    def receive(self) -> list[tuple[int, int]]:
        got, self.waiting = self.waiting, []
        return got

    def release(self, queue: int, packet_id: int, accept: bool = True) -> None:
        self.released.append((queue, packet_id))


def test_a_frame_of_a_late_link_goes_after_its_delay_and_not_before():
    q = FakeQueues()
    d = delayer.Delayer(q)  # type: ignore[arg-type]
    d.late = {1001: (0.05, 0.0)}
    q.waiting = [(1001, 1)]
    d.take(now=10.0)
    d.release_due(10.049)
    assert q.released == []
    d.release_due(10.05)
    assert q.released == [(1001, 1)]


def test_a_frame_queued_before_the_record_says_late_is_held_from_its_arrival():
    """The rules go in force a moment before the record is written: a frame caught between them
    must not slip through on time (a CI run saw the first three of forty do so)."""
    q = FakeQueues()
    d = delayer.Delayer(q)  # type: ignore[arg-type]
    q.waiting = [(1001, 1)]
    d.take(now=10.0)
    d.settle(10.0)
    assert q.released == [] and d.unknown  # not known yet: waits
    d.late = {1001: (0.05, 0.0)}  # the record, read again
    d.settle(10.02)
    d.release_due(10.049)
    assert q.released == []
    d.release_due(10.05)
    assert q.released == [(1001, 1)]


def test_a_frame_whose_link_never_turns_late_goes_after_the_grace():
    q = FakeQueues()
    d = delayer.Delayer(q)  # type: ignore[arg-type]
    q.waiting = [(1002, 2)]
    d.take(now=10.0)
    d.settle(10.0 + delayer.GRACE / 2)
    assert q.released == []
    d.settle(10.0 + delayer.GRACE)
    assert q.released == [(1002, 2)] and not d.unknown


def test_jitter_spreads_frames_within_the_delay_give_or_take_the_jitter():
    q = FakeQueues()
    d = delayer.Delayer(q, random.Random(7))  # type: ignore[arg-type]
    d.late = {1001: (0.05, 0.01)}
    q.waiting = [(1001, i) for i in range(200)]
    d.take(now=0.0)
    dues = sorted(due for due, *_ in d.held)
    assert 0.04 <= dues[0] < 0.042 and 0.058 < dues[-1] <= 0.06  # the whole spread is used
    d.release_due(float("inf"))
    assert len(q.released) == 200


@pytest.mark.parametrize("ask, says", [
    ({"jitter": "10ms"}, "jitter varies a delay"),
    ({"delay": "5ms", "jitter": "10ms"}, "jitter 10ms is more than the delay 5ms"),
    ({"delay": "50ms", "flap": "10s"}, "not lossy, slow or late as well"),
    ({"delay": "50"}, "delay '50' is not a time"),
    ({}, "say what to do to the link")])
def test_a_bad_impairment_is_one_clear_error_and_changes_nothing(saved_layout, ask, says):
    from labkit import Cluster

    lab = Cluster(saved_layout)
    with pytest.raises(LabError, match=says):
        lab.impair("node1", "node2", **ask)
    assert not saved_layout.paths.links.exists()


def test_a_backend_that_cannot_delay_refuses_a_late_link_and_changes_nothing(saved_layout):
    from labkit.backends.compose.backend import ComposeBackend

    class Undelayed(ComposeBackend):  # a backend with link faults, but no delayer
        links_delayed = None
        no_delay = "nothing here holds frames back"

    backend = Undelayed.__new__(Undelayed)
    backend.layout = saved_layout
    with pytest.raises(LabError, match="cannot delay links: nothing here holds frames back"):
        backend.fault_links(links.both_ways("node1", "node2", delay=0.05), "late")
    assert not saved_layout.paths.links.exists()
