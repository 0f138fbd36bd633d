"""The app server's FastAPI application: the cluster's REST NBI on one node."""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import Cookie, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from labkit import tiers
from labkit.appserver import auth, limits
from labkit.appserver.sessions import MemorySessionStore, SessionStore, split_cookie
from labkit.layout import Layout


class Login(BaseModel):
    user: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=1, max_length=256)


class NodeHeader:
    """Every answer names its node (`X-Labkit-Node`), a refusal too: a client, or
    `Cluster.rotation`, can tell which app server a balancer sent it to on any route. A pure
    ASGI middleware: it adds a header and nothing else to each request's cost."""

    def __init__(self, app: Any, node: str) -> None:
        self.app = app
        self.header = (b"x-labkit-node", node.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != self.header[0]]
                message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, named)


def create_app(layout: Layout, node: str, sessions: SessionStore | None = None) -> FastAPI:
    """Build the NBI for `node`. Later tiers add their routers in `include_tiers`."""
    app = FastAPI(title="labkit NBI", version="1", description=f"REST NBI served by {node}")
    app.state.layout = layout
    app.state.node = node
    app.state.sessions = sessions or default_session_store(layout)
    # the same limits as the balancer's, for clients that reach this port directly
    app.add_middleware(limits.BodyLimit, limit=limits.BODY_LIMIT, large=limits.LARGE)
    # added last, so it runs first: nothing is read or parsed for a caller not let in
    app.add_middleware(auth.Authenticate, layout=layout, node=node,
                       sessions=lambda: app.state.sessions)
    app.add_middleware(NodeHeader, node=node)  # outermost: even a refusal says who refused
    started = time.time()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A client never sees a stack trace; the log keeps the details.
        import logging

        logging.getLogger("labkit.appserver").exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": f"internal error on {node}: {type(exc).__name__}"},
                            status_code=500)

    address = layout.address(node)

    # These two block on nothing, so they are `async def`: they run on the event loop itself.
    # A plain `def` route is sent to the thread pool and back, which cost more than the route.
    # Routes that wait on a database stay `def`, so their wait never holds the loop.
    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "node": node}

    @app.get("/api/node")
    async def whoami(request: Request) -> dict:
        """Which node answered (the round-robin lesson counts these), and to whom."""
        return {"node": node, "address": address, "pid": os.getpid(), "started": started,
                "time": time.time(), "user": getattr(request.state, "user", None)}

    @app.post("/api/login")
    def login(body: Login, response: Response) -> dict:
        try:
            role = auth.check_password(layout, body.user, body.password)
        except auth.Refused as exc:
            raise HTTPException(exc.status, exc.detail,
                                headers={"WWW-Authenticate": auth.REALM}) from None
        s = app.state.sessions.create(body.user, node)
        response.set_cookie("JSESSIONID", f"{s.id}.{node}", httponly=True, samesite="lax",
                            path="/")
        return {"session": s.id, "node": node, "user": s.user, "role": role,
                "store": app.state.sessions.kind}

    @app.get("/api/session")
    def session(request: Request,
                JSESSIONID: str | None = Cookie(default=None)) -> dict:  # noqa: N803
        if not JSESSIONID:
            raise HTTPException(401, "no session: POST /api/login first")
        sid, route = split_cookie(JSESSIONID)
        # the authentication already looked the session up (and counted this request) when
        # the cookie was the only credential
        s = getattr(request.state, "session", None) or app.state.sessions.hit(sid)
        if s is None:
            raise HTTPException(401, f"session unknown on {node} (it lived on {route}); "
                                "log in again")
        return {"node": node, "hits": s.hits, "user": s.user, "created_on": s.created_on,
                "route": route, "store": app.state.sessions.kind}

    @app.post("/api/logout")
    def logout(response: Response, JSESSIONID: str | None = Cookie(default=None)) -> dict:  # noqa: N803
        if JSESSIONID:
            app.state.sessions.delete(split_cookie(JSESSIONID)[0])
        response.delete_cookie("JSESSIONID", path="/")
        return {"node": node, "logged_out": bool(JSESSIONID)}

    include_tiers(app)
    auth.describe(app)
    return app


def include_tiers(app: FastAPI) -> None:
    """The routers of every tier the lab has (`labkit.tiers`): databases, files, devices and
    jobs. The devices tier lives on the lab itself ("lab"), so its routes are always there:
    membership heartbeats always, device mediation when the topology has devices."""
    topology = app.state.layout.topology
    for tier in tiers.TIERS:
        if tier.routes and (tier.role == "lab" or topology.with_role(tier.role)):
            tiers.load(tier.routes).install(app)


def default_session_store(layout: Layout) -> SessionStore:
    """Sessions live in the replicated MySQL tier when the lab has one, else in memory."""
    if layout.topology.with_role("mysql"):
        from labkit.db.sessions_mysql import MySQLSessionStore

        return MySQLSessionStore(layout)
    return MemorySessionStore()
