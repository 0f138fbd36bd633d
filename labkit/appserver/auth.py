"""Who is asking: every NBI call authenticates, and destructive calls need the admin role.

A network-management NBI (Junos Space's among them) authenticates every call. This lab's has two
users per lab, `learner` (role `user`) and `admin` (role `admin`), with passwords generated into
the lab's secrets (`Layout.nbi_password`; `labkit credentials` prints them). A request proves who
it is in one of two ways:

* HTTP Basic (`Authorization: Basic ...`) on every request, as REST scripts do; checked on every
  node against the lab's secrets, so it needs no session and survives any node's death;
* a session from `POST /api/login` (user and password): the JSESSIONID cookie that Apache's
  balancer keeps sticky. A session lives where the session store keeps it, so when it dies with
  its node the next request is refused with 401 and the client logs in again (lesson 03).

The check is a middleware, deny by default: a route added later is protected without a word.
Only the health check (Apache's probe), the API description and the login itself are open.
Deleting (any DELETE) and forgetting devices need the admin role; everything else needs a user.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from labkit.appserver.limits import ASGIApp, Receive, Scope, Send
from labkit.appserver.sessions import SessionStore, split_cookie
from labkit.errors import LabError
from labkit.layout import NBI_USERS, Layout

#: answered without credentials: Apache's health probe, the API description, the login itself
PUBLIC = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                    "/api/login"})
#: (method, path) pairs that only the admin role may call, besides every DELETE
ADMIN_ONLY = frozenset({("POST", "/api/devices/forget")})
REALM = 'Basic realm="labkit NBI", charset="UTF-8"'
HOW = ("send HTTP Basic credentials or a JSESSIONID from POST /api/login; `labkit credentials` "
       "prints the lab's users and passwords")


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_password(layout: Layout, user: str, password: str) -> str:
    """`user`'s role if `password` is theirs; Refused(401) otherwise (one message for both
    an unknown user and a wrong password, so the answer does not say which users exist)."""
    role = NBI_USERS.get(user)
    expected = layout.nbi_password(user) if role else ""
    if not role or not hmac.compare_digest(expected.encode(), password.encode()):
        raise Refused(401, "wrong user or password")
    return role


def basic(layout: Layout, header: bytes) -> tuple[str, str]:
    """(user, role) from an Authorization header; Refused(401) when it does not prove one."""
    scheme, _, value = header.decode("latin-1").partition(" ")
    if scheme.lower() != "basic":
        raise Refused(401, f"the NBI takes HTTP Basic, not {scheme or 'an empty'} "
                           "authorization")
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, sep, password = "", "", ""
    if not sep:
        raise Refused(401, "malformed HTTP Basic credentials: base64 of user:password")
    return user, check_password(layout, user, password)


def needs_admin(method: str, path: str) -> bool:
    return method == "DELETE" or (method, path) in ADMIN_ONLY


def session_cookie(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    try:
        morsel = SimpleCookie(raw.decode("latin-1")).get("JSESSIONID")
    except CookieError:
        return None
    return morsel.value if morsel else None


class Authenticate:
    """ASGI middleware: the caller's user and role in `request.state`, or 401 / 403."""

    def __init__(self, app: ASGIApp, layout: Layout, node: str,
                 sessions: Callable[[], SessionStore]) -> None:
        self.app, self.layout, self.node, self.sessions = app, layout, node, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC:
            await self.app(scope, receive, send)
            return
        try:
            user, role = await self.who(scope)
            if needs_admin(scope["method"], scope["path"]) and role != "admin":
                raise Refused(403, f"{scope['method']} {scope['path']} needs the admin role; "
                                   f"{user} has the role {role}")
        except Refused as exc:
            await _refuse(send, exc)
            return
        state = scope.setdefault("state", {})
        state["user"], state["role"] = user, role
        await self.app(scope, receive, send)

    async def who(self, scope: Scope) -> tuple[str, str]:
        headers = dict(scope["headers"])
        if b"authorization" in headers:
            return basic(self.layout, headers[b"authorization"])
        cookie = session_cookie(headers)
        if not cookie:
            raise Refused(401, f"authentication required: {HOW}")
        sid, route = split_cookie(cookie)
        # counts this request against the session (the route reads it from the state, and does
        # not count it again); the MySQL store blocks, so off the event loop
        try:
            s = await run_in_threadpool(self.sessions().hit, sid)
        except LabError as exc:  # the session store is failing over: retry, not a wrong login
            raise Refused(503, f"{exc}; send HTTP Basic credentials instead, or retry") from None
        if s is None:
            raise Refused(401, f"session unknown on {self.node} (it lived on {route}); "
                               "log in again")
        scope.setdefault("state", {})["session"] = s
        return s.user, NBI_USERS.get(s.user, "user")


def describe(app: FastAPI) -> None:
    """Say in the API description (`/openapi.json`) what the middleware enforces: HTTP Basic on
    every path but the public ones. The session cookie is described in words, not as a second
    scheme: a fuzzer given the Basic credentials would otherwise send them along with a mangled
    cookie and count the answer as a bad request let through."""
    make = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = make()
        schema.setdefault("components", {})["securitySchemes"] = {
            "basic": {"type": "http", "scheme": "basic",
                      "description": "the lab's users: `labkit credentials`; or, instead, the "
                                     "JSESSIONID cookie that POST /api/login sets"}}
        schema["security"] = [{"basic": []}]
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if path in PUBLIC:
                    operation["security"] = []
                elif needs_admin(method.upper(), path):
                    operation["description"] = (operation.get("description", "") +
                                                "\n\nNeeds the admin role.").strip()
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _refuse(send: Send, exc: Refused) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", REALM.encode()))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
