"""Hidden checks of lesson 07 (`labkit.ui.course.check("07", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The rules and timers
come from the lab's own modules (labkit.devices.mediation, labkit.appserver.membership) and its
topology, not from copies."""

from __future__ import annotations

import random
from typing import Any

from labkit.appserver import membership
from labkit.devices import mediation


def _timeout(lab: Any) -> float:
    return float(lab.layout.topology.membership_timeout)


def _number(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number of seconds, e.g. 2.5"
    return None


def declared_dead(answer: Any, lab: Any) -> str | None:
    """How long a crashed node must have been silent before the other app nodes drop it from
    their membership view (and so before its devices move): the lab's membership timeout. The
    last heartbeat may have left up to one heartbeat interval before the crash, and the view is
    updated at least every half interval, so the measured silence after the crash lies within an
    interval of it either way."""
    if (wrong := _number(answer)) is not None:
        return wrong
    timeout = _timeout(lab)
    interval = timeout / membership.BEATS_PER_TIMEOUT
    if timeout - interval - 0.05 <= answer <= timeout + interval:
        return None
    if abs(answer - interval) <= 0.05:
        return ("that is how often a heartbeat is sent; one missed heartbeat is not a death: a "
                "peer is dropped only after several in a row")
    if abs(answer - membership.BEATS_PER_TIMEOUT) <= 0.05:
        return "BEATS_PER_TIMEOUT counts heartbeats, not seconds"
    if answer < 0.3:
        return ("the others learn about a node only from its heartbeats: a silent node may just "
                "be slow, so they wait before they call it dead")
    if 30 <= answer <= 120:
        return ("that is the order of Junos Space's own figure; this lab's timer is quicker: "
                "use the value printed above")
    return "which timer decides when a silent peer leaves a node's view? It is printed above"


def _reference(counts: dict[str, int], live: list[str]) -> str:
    return mediation.least_loaded({n: counts.get(n, 0) for n in live})


def _cases(rng: random.Random) -> list[tuple[str, dict[str, int], list[str]]]:
    """(what the case tests, counts, live): random loads, ties across node2/node10, a dead node
    with the fewest devices, a live node that holds none yet (absent from counts)."""
    cases = []
    for _ in range(20):
        names = [f"node{i}" for i in rng.sample(range(1, 13), rng.randint(2, 6))]
        counts = {n: rng.randint(0, 40) for n in names}
        cases.append(("random", counts, names))
    cases.append(("tie", {"node10": 7, "node2": 7, "node3": 9}, ["node10", "node2", "node3"]))
    cases.append(("tie", {"node1": 5, "node4": 5, "node3": 5}, ["node4", "node3", "node1"]))
    cases.append(("dead", {"node1": 30, "node2": 31, "node3": 2}, ["node1", "node2"]))
    cases.append(("dead", {"node3": 0, "node2": 12, "node4": 11}, ["node2", "node4"]))
    cases.append(("empty", {"node1": 4, "node2": 3}, ["node1", "node2", "node3"]))
    return cases


def least_loaded(answer: Any, lab: Any) -> str | None:
    """`answer(counts, live) -> node`: the node the next device goes to: the live node with the
    fewest devices (a live node missing from `counts` has none); ties go to the lowest name in
    natural order (node2 before node10), as `labkit.devices.mediation` does it."""
    if not callable(answer):
        return ("write a function, `def least_loaded(counts, live): ...`, and pass the function "
                "itself")
    wrong: set[str] = set()
    for kind, counts, live in _cases(random.Random()):
        got = answer(dict(counts), list(live))
        want = _reference(counts, live)
        if got == want:
            continue
        if not isinstance(got, str):
            return f"return a node's name, e.g. 'node2' (you returned {got!r})"
        busiest = counts.get(got, 0) == max(counts.get(n, 0) for n in live)
        if got not in live:
            wrong.add("dead")
        elif busiest and len(set(counts.values())) > 1:
            wrong.add("most")
        elif kind == "empty":
            wrong.add("empty")
        elif counts.get(got, 0) > counts.get(want, 0):
            wrong.add("fewer")
        else:
            wrong.add("tie")
    hints = {
        "dead": "one of your picks is not in `live`: a dead node cannot open NETCONF sessions",
        "empty": ("a live node that holds no device yet is not in `counts` at all; it has the "
                  "fewest of everyone"),
        "most": "you picked the busiest node; placement wants the one with the least to do",
        "fewer": "some live node has fewer devices than the one you picked",
        "tie": ("when several live nodes hold the same fewest devices, the lab takes the lowest "
                "name, counting the digits as a number (compare node2 with node10)"),
    }
    for name in ("dead", "most", "empty", "fewer", "tie"):
        if name in wrong:
            return hints[name]
    return None
