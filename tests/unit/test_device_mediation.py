"""Least-loaded placement, even redistribution, minimal rebalance, quorum: the pure rules."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from labkit.devices import device_names
from labkit.devices import mediation as m

NODES = ["node1", "node2", "node3", "node4"]


def placed(count: int, nodes: list[str]) -> dict[str, str | None]:
    return m.apply({}, m.place(device_names(count), {}, nodes))


def counts(assign) -> dict[str, int]:
    return dict(Counter(n for n in assign.values()))


def test_discovery_of_100_on_4_nodes_gives_25_each():
    assert counts(placed(100, NODES)) == {n: 25 for n in NODES}


def test_placement_fills_the_least_loaded_node_first():
    assign = {**{f"a{i}": "node1" for i in range(5)}, "b": "node2"}
    moves = m.place(["x", "y", "z"], assign, ["node1", "node2", "node3"])
    assert [to for _src, to in moves.values()] == ["node3", "node2", "node3"]


def test_a_dead_nodes_devices_spread_evenly_and_nothing_else_moves():
    assign = placed(100, NODES)
    moves = m.redistribute(assign, ["node1", "node2", "node4"])
    assert set(moves) == {d for d, n in assign.items() if n == "node3"}
    after = m.apply(assign, moves)
    assert sorted(counts(after).values()) == [33, 33, 34]
    assert "node3" not in counts(after)


def test_a_returning_node_gets_nothing_until_a_rebalance():
    assign = m.apply(placed(100, NODES), {})
    after_crash = m.apply(assign, m.redistribute(assign, ["node1", "node2", "node4"]))
    assert m.redistribute(after_crash, NODES) == {}
    moves = m.rebalance(after_crash, NODES)
    assert len(moves) == 25 and all(to == "node3" for _s, to in moves.values())
    assert counts(m.apply(after_crash, moves)) == {n: 25 for n in NODES}


def test_rebalance_onto_a_subset_drains_the_other_nodes():
    assign = placed(100, NODES)
    after = m.apply(assign, m.rebalance(assign, ["node1"]))
    assert counts(after) == {"node1": 100}


def test_natural_node_order():
    assert m.ordered(["node10", "node2", "node1"]) == ["node1", "node2", "node10"]
    assert m.coordinator(["node10", "node9"]) == "node9"


@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4),
                       st.sampled_from(NODES + [None]), max_size=60),
       st.sets(st.sampled_from(NODES), min_size=1))
def test_rebalance_is_even_and_moves_the_fewest_devices(assign, live):
    moves = m.rebalance(assign, live)
    after = m.apply(assign, moves)
    load = m.loads(after, live)
    assert all(n in live for n in after.values())
    assert sum(load.values()) == len(assign)
    assert max(load.values()) - min(load.values()) <= 1
    before = m.loads(assign, live)
    base, extra = divmod(len(assign), len(live))
    # a node keeps at most its target; everything above (and every orphan) had to move
    surplus = sorted((before[n] for n in live), reverse=True)
    targets = [base + (1 if i < extra else 0) for i in range(len(live))]
    must = len(m.orphans(assign, live)) + sum(max(0, s - t)
                                              for s, t in zip(surplus, targets, strict=True))
    assert len(moves) == must
    assert all(src != to for src, to in moves.values())


@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), st.sampled_from(NODES),
                       max_size=80),
       st.sets(st.sampled_from(NODES), min_size=1))
def test_redistribute_moves_only_orphans(assign, live):
    moves = m.redistribute(assign, live)
    assert set(moves) == set(m.orphans(assign, live))
    assert all(to in live for _src, to in moves.values())


def test_quorum_is_a_majority_or_the_half_with_the_first_node():
    assert m.has_quorum(["node1", "node2", "node4"], NODES)
    assert not m.has_quorum(["node3"], NODES)
    assert m.has_quorum(["node1", "node2"], NODES)
    assert not m.has_quorum(["node3", "node4"], NODES)
    assert m.has_quorum(["node1"], ["node1", "node2"])
    assert not m.has_quorum(["node2"], ["node1", "node2"])
    assert not m.has_quorum([], NODES)


def test_split_groups_a_jobs_devices_by_serving_node():
    assign = placed(100, NODES)
    groups = m.split(device_names(100), assign)
    assert {n: len(d) for n, d in groups.items()} == {n: 25 for n in NODES}
