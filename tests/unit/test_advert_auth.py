"""Only this lab's load balancers can move its VIP (issue 14): adverts are signed with the lab's
key, fresh, and from the node they name; anything else is dropped by the segment."""

from __future__ import annotations

import json
import time

import pytest

from labkit.layout import Layout
from labkit.lb import advert
from labkit.lb.segment import Segment
from labkit.topology import Topology


@pytest.fixture
def layout(saved_layout: Layout) -> Layout:
    return saved_layout


MASTER = {"node": "node2", "address": "127.0.9.12", "priority": 255, "state": "master"}


def test_a_signed_advert_reads_back(layout):
    got = advert.verify(layout, advert.sign(layout, MASTER))
    assert got is not None and {k: got[k] for k in MASTER} == MASTER


def test_forged_tampered_and_stale_adverts_are_dropped(layout):
    other = Layout(lab="other", topology=Topology.default(), prefix="127.0.8",
                   secrets=Layout.new_secrets())
    assert advert.verify(layout, json.dumps(MASTER).encode()) is None  # the old, unsigned form
    assert advert.verify(layout, advert.sign(other, MASTER)) is None  # another lab's key
    signed = json.loads(advert.sign(layout, MASTER))
    signed["advert"] = signed["advert"].replace('"priority": 255', '"priority": 254')
    assert advert.verify(layout, json.dumps(signed).encode()) is None  # altered after signing
    old = advert.sign(layout, MASTER)
    assert advert.verify(layout, old, now=time.time() + 60) is None  # a replay a minute later


def test_the_segment_follows_only_signed_adverts_from_the_node_they_name(layout):
    seg = Segment(layout)
    seg.on_advert(json.dumps(MASTER).encode(), "127.0.0.1")
    seg.on_advert(advert.sign(layout, MASTER), "127.0.0.1")  # signed, but from elsewhere
    assert seg.owner is None
    seg.on_advert(advert.sign(layout, MASTER), "127.0.9.12")
    assert seg.owner == "node2"
