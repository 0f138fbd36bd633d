"""Hidden checks of lesson 13 (`labkit.ui.course.check("13", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. `lab` is the lesson's
own small lab, the one whose timers were turned; its numbers come from its topology."""

from __future__ import annotations

from typing import Any

from labkit.lb.election import master_down_interval as _master_down
from labkit.topology import VrrpSpec

#: how much longer than the master-down interval a client may see no answer and the prediction
#: still counts: the new master's Apache taking the traffic, the health check dropping the
#: crashed node's own app server, and the client asking only every 50 ms
SLACK = 0.5


def _near(answer: float, value: float, tolerance: float = 0.05) -> bool:
    return abs(answer - value) <= tolerance


def vip_gap(answer: Any, lab: Any) -> str | None:
    """How long the VIP's clients get no answer when its owner crashes, on the tuned lab: at
    least the backup's master-down interval (the lower-priority backup waits longest, so that is
    the worst case), plus up to SLACK for the rest of the way to a good answer."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number of seconds, e.g. 1.25"
    advert = lab.layout.topology.vrrp.advert_interval
    backup = min(n.priority for n in lab.layout.topology.with_role("lb"))
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
