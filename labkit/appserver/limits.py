"""Bounded request bodies on the app server itself, not only behind Apache.

The app servers' ports are reachable without the balancer (lessons read from one node
directly), so Apache's `LimitRequestBody` alone bounds nothing there. This ASGI middleware refuses
a body above the limit with 413 before the route runs: by its Content-Length when it has one,
by counting as it streams when it is chunked. Device images (`/api/files`) have their own, larger
limit; the file store checks the size it stores as well.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


#: the most a request body may carry: the NBI's JSON is small
BODY_LIMIT = 1 << 20
#: device images go to /api/files: just above the file store's own limit (1 GiB, checked there)
UPLOAD_LIMIT = (1 << 30) + (1 << 20)
LARGE = {"/api/files": UPLOAD_LIMIT}
#: seconds an app server keeps an idle connection open (uvicorn's timeout_keep_alive)
KEEP_ALIVE = 30
#: seconds Apache reuses an idle pooled connection to an app server (BalancerMember ttl=): less
#: than KEEP_ALIVE, so Apache never sends a request on a connection the app server is closing
BACKEND_TTL = 20


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int, large: dict[str, int]) -> None:
        self.app, self.limit, self.large = app, limit, large

    def cap(self, path: str) -> int:
        return next((n for prefix, n in self.large.items() if path.startswith(prefix)),
                    self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap(scope["path"])
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > cap:
            await _refuse(send, cap)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _refuse(send, cap)


async def _refuse(send: Send, cap: int) -> None:
    body = json.dumps({"detail": f"request body larger than {cap} bytes: refused, nothing "
                                 "was written"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
