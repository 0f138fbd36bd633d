"""The device store writes a batch of moves or session reports in a few statements, whatever
the batch's size: one round trip per device is what bounded a 1000-device fleet."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from labkit.devices import device_names, mediation
from labkit.devices import store as st

NODES = ["node1", "node2", "node3", "node4"]


class Recorder:
    """A cursor that keeps what it was asked to run (no executemany: one call per device
    would show up as an AttributeError)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def execute(self, sql: str, args: Any = None) -> int:
        self.calls.append((" ".join(sql.split()), list(args or [])))
        return 0


class Store(st.Store):
    def __init__(self) -> None:
        self.cur = Recorder()

    @contextlib.contextmanager
    def transaction(self, lock: bool = True):
        yield self.cur


def crash_moves(count: int) -> mediation.Moves:
    assign = mediation.apply({}, mediation.place(device_names(count), {}, NODES))
    return mediation.redistribute(assign, ["node1", "node2", "node4"])


def test_moves_are_grouped_by_destination_in_name_order():
    moves = {"dev0003": ("node3", "node1"), "dev0001": (None, "node2"),
             "dev0002": ("node3", "node1")}
    assert st.by_destination(moves) == {"node1": ["dev0002", "dev0003"], "node2": ["dev0001"]}


def test_a_dead_nodes_250_devices_move_in_one_statement_per_survivor():
    moves = crash_moves(1000)
    assert len(moves) == 250
    s = Store()
    s.move(s.cur, moves)
    assert len(s.cur.calls) == 3
    moved = {d: args[0] for _sql, args in s.cur.calls for d in args[2:]}
    assert moved == {d: to for d, (_src, to) in moves.items()}
    assert sorted(Counter(moved.values()).values()) == [83, 83, 84]


def test_session_reports_take_one_statement_per_chunk_not_per_device():
    up = {d: {"since": 1.0, "framing": "1.1", "model": None} for d in device_names(1000)}
    s = Store()
    s.report_sessions("node1", up, ["dev2000", "dev2001"])
    updates = [c for c in s.cur.calls if "JOIN" in c[0]]
    downs = [c for c in s.cur.calls if "session_node = NULL" in c[0]]
    assert len(updates) == 1000 // st.CHUNK and len(downs) == 1
    reported = [a[i] for _sql, a in updates for i in range(0, len(a) - 2, 4)]
    assert reported == sorted(up)
    assert all(a[-2:] == ["node1", "node1"] for _sql, a in updates)  # only its own devices
    assert downs[0][1] == ["node1", "dev2000", "dev2001"]


def test_chunks_cover_every_name_once():
    names = device_names(1201)
    parts = st.chunks(names, 500)
    assert [len(p) for p in parts] == [500, 500, 201]
    assert sum(parts, []) == names


def test_a_mediator_looks_often_just_after_a_view_change_and_calmly_otherwise():
    from labkit.devices import mediator

    assert mediator.next_look(0.0) == mediator.QUICK_TICK
    assert mediator.next_look(mediator.QUICK_FOR - 0.01) == mediator.QUICK_TICK
    assert mediator.next_look(mediator.QUICK_FOR + 0.01) == mediator.TICK
    assert mediator.next_look(-5.0) == mediator.TICK  # a clock step back proves nothing
