"""A crash's event is written once every process is gone, after the VRRP takeover it caused
was logged; stamped with the moment it began, it is read back first."""

from __future__ import annotations

import time

from labkit import events


def test_an_event_stamped_when_it_began_is_read_before_what_it_caused(tmp_path):
    log = tmp_path / "events.jsonl"
    began = time.time() - 1.5  # the kill took 1.5 s
    events.emit(log, "vrrp", message="node2 is now MASTER")
    events.emit(log, "fault", ts=began, message="node1 crashed")
    assert [ev["kind"] for ev in events.read(log)] == ["fault", "vrrp"]
    assert [ev["kind"] for ev in events.read(log, since=began + 0.5)] == ["vrrp"]
