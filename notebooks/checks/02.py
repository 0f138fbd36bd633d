"""Hidden checks of lesson 02 (`labkit.ui.course.check("02", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The numbers come from
the lab itself: its app servers and the BalancerMember settings of its running httpd.conf."""

from __future__ import annotations

from typing import Any

from labkit.ui.lesson import apache_seconds as _seconds
from labkit.ui.lesson import member_settings

#: the fresh requests of the `shares` question
REQUESTS = 30


def _number(answer: Any) -> str | None:
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number, e.g. 4"
    return None


def _near(a: float, b: float) -> bool:
    """Within 0.15 s or 10 %: the lab's timers may be a fifth of a second apart (hcinterval=200ms
    beside timeout=1), the answers that mix them up must still be told apart."""
    return abs(a - b) <= max(0.15, 0.1 * abs(b))


def shares(answer: Any, lab: Any) -> str | None:
    """One app server is out of the rotation: of REQUESTS fresh requests, each of the others
    answers REQUESTS / (app servers − 1) (byrequests with equal lbfactors skips an unusable
    member; it does not keep its turn)."""
    if (wrong := _number(answer)) is not None:
        return wrong
    apps = len(lab.layout.topology.with_role("app"))
    if apps < 2:
        return None if _near(answer, 0) else "with one app server out there is none left"
    if abs(answer - REQUESTS / (apps - 1)) <= 0.5:
        return None
    if abs(answer - REQUESTS / apps) <= 0.5:
        return ("that shares them among every member; the one the health check took out gets "
                "no turn at all, so its share goes to the others")
    if abs(answer - REQUESTS) <= 0.5:
        return "that is all of them on one server; byrequests spreads them over every usable member"
    return (f"count the usable members ({apps} app servers, one of them out) and share the "
            f"{REQUESTS} requests out evenly")


def frozen_wait(answer: Any, lab: Any) -> str | None:
    """A request sent to a frozen member waits for Apache's `timeout` (the kernel of a frozen
    process still accepts the TCP connection; nothing answers) and then gets 502."""
    if (wrong := _number(answer)) is not None:
        return wrong
    s = member_settings(lab)
    timeout = _seconds(s["timeout"])
    if _near(answer, timeout):
        return None
    if _near(answer, _seconds(s["connectiontimeout"])):
        return ("connectiontimeout bounds only the TCP connect; a frozen process's kernel still "
                "accepts the connection, so Apache goes on to wait for an answer")
    if _near(answer, worst_out(s)):
        return "that is about when the health check takes the member out; one request waits less"
    if _near(answer, _seconds(s["hcinterval"])):
        return "hcinterval is how often the health check asks, not how long a request waits"
    if answer <= 0.25:
        return "Apache cannot tell a frozen member from a slow one at once: the request waits"
    return "find the BalancerMember setting that bounds how long Apache waits for an answer"


def worst_out(s: dict[str, str]) -> float:
    """At most how long after a freeze the health check takes the member out: a check has just
    passed, the next one starts `hcinterval` later and fails after `timeout`; `hcfails` of them."""
    return int(s.get("hcfails", "1")) * (_seconds(s["hcinterval"]) + _seconds(s["timeout"]))


def taken_out(answer: Any, lab: Any) -> str | None:
    """The worst case of `worst_out`, from the lab's own settings."""
    if (wrong := _number(answer)) is not None:
        return wrong
    s = member_settings(lab)
    if _near(answer, worst_out(s)):
        return None
    if _near(answer, _seconds(s["timeout"])):
        return ("that is when a check that started at the moment of the freeze fails; at worst "
                "a check has just passed, and the next one starts hcinterval later")
    if _near(answer, _seconds(s["hcinterval"])):
        return "the check runs every hcinterval, but a frozen member makes it wait before it fails"
    return ("a health check that asks a frozen member fails only when it gives up waiting; add "
            "how long the next check can be away")
