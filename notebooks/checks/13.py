"""Hidden checks of lesson 13 (`labkit.ui.course.check("13", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. `lab` is the lesson's
own small lab, the one whose timers were turned; its numbers come from its topology."""

from __future__ import annotations

from typing import Any

from labkit.lb.election import master_down_interval as _master_down
from labkit.topology import Topology, VrrpSpec

#: how much longer than the master-down interval a client may see no answer and the prediction
#: still counts: the new master's Apache taking the traffic, the health check dropping the
#: crashed node's own app server, and the client asking only every 50 ms. Less than the main
#: lab's master-down interval exceeds the small lab's, or the main lab's figure would pass
SLACK = 0.3


def _topology(lab: Any) -> Topology:
    """The small lab's topology: from the running lab, or the Topology itself where the lesson
    could not start it (the prediction is arithmetic on its timers either way)."""
    return lab if isinstance(lab, Topology) else lab.layout.topology


def _near(answer: float, value: float, tolerance: float = 0.05) -> bool:
    return abs(answer - value) <= tolerance


def vip_gap(answer: Any, lab: Any) -> str | None:
    """How long the VIP's clients get no answer when its owner crashes, on the tuned lab: at
    least the backup's master-down interval (the lower-priority backup waits longest, so that is
    the worst case), plus up to SLACK for the rest of the way to a good answer."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number of seconds, e.g. 1.25"
    topology = _topology(lab)
    advert = topology.vrrp.advert_interval
    backup = min(n.priority for n in topology.with_role("lb"))
    master_down = _master_down(advert, backup)
    if master_down - 0.05 <= answer <= master_down + SLACK:
        return None
    skew = master_down - 3 * advert
    if _near(answer, 3 * advert):
        return ("close: three missed adverts, and then the backup waits its skew time as well "
                "((256 − priority) × advert interval / 256)")
    if _near(answer, advert + skew) or _near(answer, skew) or _near(answer, advert):
        return ("the backup does not give up after one silent advert interval: it waits for "
                "three of them, and then its skew time")
    default = VrrpSpec().advert_interval
    if default != advert and _master_down(default, backup) - 0.4 <= answer \
            <= _master_down(default, backup) + SLACK:
        return (f"that is the main lab's figure, with adverts every {default:g} s; this lab "
                "sends them more often: use the advert interval printed above")
    if answer >= 10:
        return ("that is the order of Junos Space's own heartbeat (10 missed 1 s beats); "
                "this lab's VRRP is far quicker")
    if answer < master_down:
        return ("too short: clients wait at least the backup's master-down interval, "
                "3 × advert interval + skew time, before anyone owns the VIP again")
    return ("too long: the master-down interval, 3 × advert interval + skew time, is most of "
            "the gap; the new master's Apache answers a fraction of a second after it")


#: how much longer than the longest measured healthy pause the timer must be: the next pause may
#: be a little longer than the ones measured (a bigger heap, a busier host)
MARGIN = 1.0
#: the most a real crash may cost the MySQL clients: Junos Space's VIP heartbeat gives up after
#: 10 missed 1 s beats; a database timer slower than that makes the pair the slow part
CRASH_BUDGET = 10.0


def failover_after(answer: Any, lab: Any) -> str | None:
    """A `failover_after` for the MySQL pair that sits out the healthy pause measured on the
    small lab (the longest freeze in its event log) with MARGIN to spare, and still lets a real
    crash fail over within CRASH_BUDGET: the standby's watcher may notice the silence up to one
    POLL late, decide up to one POLL after the timer ran out, and promote in about a second."""
    from labkit.db import watcher
    from labkit.ui.lesson import pauses

    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number of seconds, e.g. 2.5"
    if lab is None:
        return ("the small lab did not run on this machine, so no pause was measured to check "
                "your timer against")
    measured = pauses(lab.events())
    if not measured:
        return ("run the pause experiment above first: the check reads how long the active was "
                "frozen from the small lab's event log")
    pause = max(measured)
    worst_crash = answer + 2 * watcher.POLL + 1.0
    if answer < 1:
        return "the lab takes 1 s at the least (failover_after ≥ 1): see the last question below"
    if answer <= pause + 0.05:
        if abs(answer - lab.layout.topology.mysql.failover_after) <= 0.05:
            return ("that is the small lab's own timer, the one the pause above is meant to "
                    "fail over")
        if pause - watcher.POLL - watcher.PROBE_TIMEOUT < answer < pause - 0.05:
            return (f"{answer:g} s may sit out a {pause:.1f} s pause, but only because of "
                    "where the watcher's looks fall (each silent look waits its question's "
                    f"{watcher.PROBE_TIMEOUT:g} s), not by a margin: a pause a second longer "
                    "fails it over")
        return (f"no longer than the pause you measured ({pause:.2f} s): the standby would hear "
                "more silence than its timer allows, and take over")
    if answer < pause + MARGIN - 0.05:
        return (f"longer than the pause you measured ({pause:.2f} s), but with almost no "
                f"margin: the next healthy pause may be a little longer; leave at least "
                f"{MARGIN:g} s")
    if worst_crash > CRASH_BUDGET:
        return (f"that sits out the pause, but a real crash would then leave the clients "
                f"without writes for up to {worst_crash:.1f} s (the timer, up to two looks "
                f"late, the promotion): keep it under {CRASH_BUDGET:g} s, Junos Space's own "
                "heartbeat")
    return None
