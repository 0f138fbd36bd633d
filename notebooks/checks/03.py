"""Hidden checks of lesson 03 (`labkit.ui.course.check("03", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away."""

from __future__ import annotations

import secrets
from typing import Any


def _routes(lab: Any) -> list[str]:
    try:
        return [n.name for n in lab.layout.topology.with_role("app")]
    except AttributeError:
        return ["node1", "node2", "node3", "node4"]


def route_of(answer: Any, lab: Any) -> str | None:
    """`answer` is a function: a JSESSIONID cookie's value → the route Apache's stickysession
    reads from it (what follows the dot), or None for a cookie without one (no member is named,
    so the request is balanced like any other)."""
    if not callable(answer):
        return "write a function, `def route_of(cookie): ...`, and pass the function itself"
    for route in _routes(lab)[-2:]:
        sid = secrets.token_hex(16)
        got = answer(f"{sid}.{route}")
        if got == route:
            continue
        if got == sid:
            return "that is the session id; the route is the other half of the cookie"
        if got == f"{sid}.{route}":
            return "that is the whole cookie; Apache reads only the part after the dot"
        return f"for a cookie of the form <id>.<route> it should give the route, not {got!r}"
    sid = secrets.token_hex(16)
    got = answer(sid)
    if got is not None:
        return (f"a cookie without a dot names no member (you gave {got!r}): return None, and "
                "Apache balances the request like any other")
    return None
