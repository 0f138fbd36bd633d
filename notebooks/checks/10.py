"""Hidden checks of lesson 10 (`labkit.ui.course.check("10", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away.

Both checks take a function of a reachability map, `reaches[a]` = the set of nodes that frames
sent by `a` arrive at (a directed map: a one-way cut removes one direction only), and try it on
fresh random maps as well as on a few made-up ones that every wrong variant below fails.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

Reaches = dict[str, set[str]]
#: the cases a learner's function is tried on: (node, peer, reaches)
Case = tuple[str, str, Reaches]


def _talks(reaches: Reaches, a: str, b: str) -> bool:
    """A TCP conversation (a watcher's question, a vote) needs frames both ways."""
    return b in reaches.get(a, set()) and a in reaches.get(b, set())


def _others(reaches: Reaches, *left_out: str) -> list[str]:
    return [o for o in reaches if o not in left_out]


# -- the rules -----------------------------------------------------------------------------------
def _third_vote(node: str, peer: str, reaches: Reaches) -> bool:
    """The lab's rule (labkit.db.witness.cut_off): a pair member whose peer is silent may act
    (take over, or go on alone) only if it still talks with some node other than its peer."""
    return any(_talks(reaches, node, o) for o in _others(reaches, node, peer))


def _majority(node: str, reaches: Reaches) -> bool:
    """Quorum: the node and those it talks with are more than half of all nodes."""
    votes = 1 + sum(_talks(reaches, node, o) for o in _others(reaches, node))
    return votes > len(reaches) / 2


# -- the cases -----------------------------------------------------------------------------------
def _names(n: int) -> list[str]:
    return [f"node{i}" for i in range(1, n + 1)]


def _full(names: list[str]) -> Reaches:
    return {a: {b for b in names if b != a} for a in names}


def _made_up() -> list[Reaches]:
    """Maps that tell every wrong variant from the rule: a clean split, one-way cuts, a node that
    talks with its peer only, a third node talking with both sides, ties."""
    n3, n4 = _names(3), _names(4)
    maps: list[Reaches] = [_full(n3), _full(n4)]
    pair_only = _full(n3)  # node1 and node2 talk; node3 is cut off from both
    pair_only["node3"] = set()
    pair_only["node1"].discard("node3")
    pair_only["node2"].discard("node3")
    maps.append(pair_only)
    bridged = _full(n3)  # node1 and node2 cut apart; node3 talks with both
    bridged["node1"].discard("node2")
    bridged["node2"].discard("node1")
    maps.append(bridged)
    out_only = _full(n3)  # node1's frames reach node3, node3's never come back
    out_only["node3"].discard("node1")
    out_only["node1"].discard("node2")
    out_only["node2"].discard("node1")
    maps.append(out_only)
    in_only = _full(n3)  # node3's frames reach node1, node1's never arrive
    in_only["node1"].discard("node3")
    in_only["node1"].discard("node2")
    in_only["node2"].discard("node1")
    maps.append(in_only)
    halves = {a: set() for a in n4}  # two and two: a tie
    for side in (("node1", "node3"), ("node2", "node4")):
        for a in side:
            halves[a] = {b for b in side if b != a}
    maps.append(halves)
    chain = {a: set() for a in _names(5)}  # node1 - node2 - node3 - node4 - node5
    for a, b in zip(_names(5), _names(5)[1:], strict=False):
        chain[a].add(b)
        chain[b].add(a)
    maps.append(chain)
    partial = _full(n4)  # node1 talks with node2 and node3, not with node4
    partial["node1"].discard("node4")
    partial["node4"].discard("node1")
    maps.append(partial)
    return maps


def _random(rng: random.Random) -> Reaches:
    names = _names(rng.randint(3, 5))
    kind = rng.choice(["random", "split", "one-way", "isolated"])
    if kind == "random":
        p = rng.choice([0.3, 0.6, 0.9])
        return {a: {b for b in names if b != a and rng.random() < p} for a in names}
    reaches = _full(names)
    if kind == "split":
        side = set(rng.sample(names, rng.randint(1, len(names) - 1)))
        return {a: {b for b in reaches[a] if (b in side) == (a in side)} for a in names}
    if kind == "one-way":
        for _ in range(rng.randint(1, 3)):
            a, b = rng.sample(names, 2)
            reaches[a].discard(b)
        return reaches
    lone = rng.choice(names)
    return {a: set() if a == lone else reaches[a] - {lone} for a in names}


def _cases(rng: random.Random, randoms: int = 200) -> Iterator[Case]:
    for reaches in _made_up():
        for node in reaches:
            for peer in reaches:
                if peer != node:
                    yield node, peer, reaches
    for _ in range(randoms):
        reaches = _random(rng)
        node, peer = rng.sample(sorted(reaches), 2)
        yield node, peer, reaches


def _copy(reaches: Reaches) -> Reaches:
    """The learner's function gets its own copy: changing it must not change the check."""
    return {a: set(b) for a, b in reaches.items()}


def _show(reaches: Reaches) -> str:
    return "{" + ", ".join(f"{a!r}: {sorted(b) or 'set()'}" for a, b in reaches.items()) + "}"


def _try(answer: Callable[..., Any], rule: Callable[..., bool],
         variants: dict[str, Callable[..., bool]], args: Callable[[Case], tuple[Any, ...]],
         hints: dict[str, str], said: Callable[[Case, bool], str]) -> str | None:
    """Run `answer` on every case; None if it agrees with `rule` everywhere, else the hint of the
    wrong variant it behaves like, or a case it got wrong."""
    cases = list(_cases(random.Random()))
    got: list[bool] = []
    for case in cases:
        value = answer(*args((case[0], case[1], _copy(case[2]))))
        if not isinstance(value, bool):
            return f"return True or False (you returned {value!r})"
        got.append(value)
    right = [rule(*args(c)) for c in cases]
    if got == right:
        return None
    for name, variant in variants.items():
        if got == [variant(*args(c)) for c in cases]:
            return hints[name]
    wrong = next(c for c, g, r in zip(cases, got, right, strict=True) if g != r)
    return said(wrong, not rule(*args(wrong)))


# -- the checks ----------------------------------------------------------------------------------
THIRD_VOTE_HINTS = {
    "peer": ("the peer is the node that went silent: that it still answers you is what is in "
             "doubt. Count only the nodes other than the pair"),
    "out": ("your frames arriving somewhere is not a conversation: the watcher asks and waits "
            "for an answer, so frames must pass both ways (a one-way cut breaks TCP both ways)"),
    "in": ("hearing a node is not talking with it: the watcher's question must arrive and its "
           "answer come back, so frames must pass both ways"),
    "all": ("the lab's watchers do not need every other node: look at how many answers "
            "witness.cut_off needs before it says a node is not cut off"),
    "itself": "a node always reaches itself; that is no vote at all",
    "never": "a member that still talks with some other node may act: otherwise nobody ever "
             "takes over",
}


def third_vote(answer: Any, lab: Any) -> str | None:
    """`answer(node, peer, reaches) -> bool`: may `node`, whose peer went silent, act (take over
    or go on alone)? Only if it talks, both ways, with some node other than itself and `peer`."""
    if not callable(answer):
        return ("write a function, `def third_vote(node, peer, reaches): ...`, and pass the "
                "function itself")
    variants: dict[str, Callable[..., bool]] = {
        "peer": lambda n, p, r: any(_talks(r, n, o) for o in _others(r, n)),
        "out": lambda n, p, r: any(o in r[n] for o in _others(r, n, p)),
        "in": lambda n, p, r: any(n in r[o] for o in _others(r, n, p)),
        "all": lambda n, p, r: all(_talks(r, n, o) for o in _others(r, n, p)),
        "itself": lambda n, p, r: True,
        "never": lambda n, p, r: False,
    }

    def said(case: Case, should: bool) -> str:
        node, peer, reaches = case
        return (f"not on every map: with reaches = {_show(reaches)}, node = {node!r} and peer = "
                f"{peer!r} you said {not should}: which nodes can {node} hold a conversation "
                "with there?")

    return _try(answer, _third_vote, variants, lambda c: c, THIRD_VOTE_HINTS, said)


MAJORITY_HINTS = {
    "tie": ("half is not a majority: with four nodes split two and two, both sides would have "
            "half, and both would act"),
    "self": "the node's own vote counts too",
    "out": ("a vote is a question and an answer: frames must pass both ways (your frames "
            "arriving is not enough)"),
    "in": "hearing a node is not getting its vote: frames must pass both ways",
    "through": ("count only the nodes it talks with itself: a vote is not passed on from node "
                "to node"),
    "others": "more than half of all the nodes, not of the others",
    "never": "a node that talks with most of the lab has a majority",
}


def majority(answer: Any, lab: Any) -> str | None:
    """`answer(node, reaches) -> bool`: has `node` a majority, i.e. are it and the nodes it talks
    with (both ways) more than half of all the nodes in `reaches`?"""
    if not callable(answer):
        return "write a function, `def majority(node, reaches): ...`, and pass the function itself"

    def votes(n: str, r: Reaches, talk: Callable[[Reaches, str, str], bool]) -> int:
        return 1 + sum(talk(r, n, o) for o in _others(r, n))

    def component(n: str, r: Reaches) -> int:
        seen, todo = {n}, [n]
        while todo:
            a = todo.pop()
            for b in _others(r, a):
                if b not in seen and _talks(r, a, b):
                    seen.add(b)
                    todo.append(b)
        return len(seen)

    variants: dict[str, Callable[..., bool]] = {
        "tie": lambda n, r: votes(n, r, _talks) >= len(r) / 2,
        "self": lambda n, r: votes(n, r, _talks) - 1 > len(r) / 2,
        "out": lambda n, r: votes(n, r, lambda m, a, b: b in m[a]) > len(r) / 2,
        "in": lambda n, r: votes(n, r, lambda m, a, b: a in m[b]) > len(r) / 2,
        "through": lambda n, r: component(n, r) > len(r) / 2,
        "others": lambda n, r: votes(n, r, _talks) - 1 > (len(r) - 1) / 2,
        "never": lambda n, r: False,
    }

    def said(case: Case, should: bool) -> str:
        node, _peer, reaches = case
        return (f"not on every map: with reaches = {_show(reaches)} and node = {node!r} you "
                f"said {not should}: count its votes there")

    return _try(answer, _majority, variants, lambda c: (c[0], c[2]), MAJORITY_HINTS, said)
