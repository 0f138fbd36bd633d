"""Walk every operation the NBI describes and see who gets in: the checker behind issue 14's
"every route except health and OpenAPI requires a session or token"."""

from __future__ import annotations

import re
from typing import Any

import httpx

from labkit.appserver.auth import PUBLIC, needs_admin

#: what a path parameter is filled with: names no lab has, so a request that got in would still
#: change nothing (and the walk sends bodies that do not validate)
PROBE = "walk-probe"


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [(method.upper(), re.sub(r"\{[^}]+\}", PROBE, path))
            for path, ops in schema["paths"].items() for method in ops
            if method in ("get", "post", "put", "delete", "patch")]


def who_gets_in(client: httpx.Client, schema: dict[str, Any],
                learner: tuple[str, str]) -> list[str]:
    """What is wrong: an operation answered without credentials, or one that needs the admin
    role answered the learner, or a public one refused. Empty when the NBI keeps its word."""
    wrong = []
    for method, path in operations(schema):
        r = client.request(method, path, content=b"{}",
                           headers={"content-type": "application/json"}, auth=None)
        if path in PUBLIC:
            if r.status_code in (401, 403):
                wrong.append(f"{method} {path} is public, answered {r.status_code}")
            continue
        if r.status_code != 401 or "www-authenticate" not in r.headers:
            wrong.append(f"{method} {path} without credentials answered {r.status_code}")
        elif "Traceback" in r.text or "detail" not in r.json():
            wrong.append(f"{method} {path}: 401 without a plain detail")
        if needs_admin(method, path):
            r = client.request(method, path, content=b"{}",
                               headers={"content-type": "application/json"}, auth=learner)
            if r.status_code != 403:
                wrong.append(f"{method} {path} as {learner[0]} answered {r.status_code}")
    return wrong
