"""How a client reads the NBI's answers: one decoder for every handle and CLI.

FastAPI answers an error as `{"detail": "..."}`, or as a list of pydantic problems for a body
that does not fit its schema; a proxy in between (Apache answering 502/503) sends plain text or
HTML. Every client turns all of these into one short line, the same way.
"""

from __future__ import annotations

from typing import Any

import httpx

from labkit.errors import LabError

LIMIT = 300  # characters of an error a learner reads; the server's log keeps the rest


def detail(r: httpx.Response) -> str:
    """The error an answer carries, in one line."""
    try:
        body = r.json()
    except ValueError:
        return " ".join(r.text.split())[:LIMIT]
    found = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(found, list):  # pydantic's list of problems
        return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d)
                         for d in found)[:LIMIT]
    return str(found)[:LIMIT]


def json_or_error(r: httpx.Response) -> Any:
    """The body of a successful answer; a LabError naming the problem (and the server's hint,
    when it gives one) for an error."""
    if r.status_code >= 400:
        try:
            body = r.json()
        except ValueError:
            body = None
        hint = body.get("hint") if isinstance(body, dict) else None
        raise LabError(f"{detail(r)} (HTTP {r.status_code})", hint)
    try:
        return r.json()
    except ValueError:
        return {"detail": r.text[:LIMIT]}
