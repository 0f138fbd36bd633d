"""Hidden checks of lesson 01 (`labkit.ui.course.check("01", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away."""

from __future__ import annotations

from typing import Any


def _backup(lab: Any) -> Any:
    """The load balancer with the lower priority: the one that waits for the master."""
    return min(lab.layout.topology.with_role("lb"), key=lambda n: n.priority)


def master_down(answer: Any, lab: Any) -> str | None:
    """VRRP's master-down interval for the backup: 3 × advert interval + skew time, where the
    skew time is (256 − priority) × advert interval / 256 (RFC 5798, section 6.1)."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number of seconds, e.g. 1.25"
    advert = lab.layout.topology.vrrp.advert_interval
    skew = (256 - _backup(lab).priority) * advert / 256
    if abs(answer - (3 * advert + skew)) <= 0.005:
        return None
    if abs(answer - 3 * advert) <= 0.005:
        return "close: the backup waits three adverts and then its skew time as well"
    if abs(answer - skew) <= 0.005:
        return "that is the skew time alone; the backup first waits for three missed adverts"
    return ("three advert intervals plus the skew time; the cell above prints the advert "
            "interval and the backup's priority")
