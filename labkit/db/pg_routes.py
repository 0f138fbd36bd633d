"""Monitoring data into the PostgreSQL pair: each app server's request counts and its start.

The seed keeps fault and performance data in its own replicated database so that it survives a
node's loss; here every app server counts the requests it serves and, every `WINDOW` seconds,
writes one `metrics` row to the PostgreSQL primary. A window that cannot be written (the pair is
failing over) is carried into the next one, so counts are delayed, never dropped. Monitoring never
gets in the way of the NBI: its failures are only logged.

An operator (or a chaos client) may also record an event of its own: `POST
/api/monitoring/events` answers with the row's id once the primary committed it, and `GET
/api/monitoring/events?prefix=` reads them back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field

from labkit.db import postgres
from labkit.errors import LabError
from labkit.layout import Layout

WINDOW = 5.0
log = logging.getLogger("labkit.db.pg_routes")
router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])


class RequestMeter:
    """Counts requests and flushes them to PostgreSQL from a background thread."""

    def __init__(self, layout: Layout, node: str) -> None:
        self.layout = layout
        self.node = node
        self.count = 0
        self.window_start = time.time()
        self.pending_event: str | None = "app server started"
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hit(self) -> None:
        with self._lock:
            self.count += 1
            if self._thread is None:  # started by the first request, in the serving process
                self._thread = threading.Thread(target=self.run, daemon=True, name="monitoring")
                self._thread.start()

    def flush(self) -> None:
        """Write the current window (and a pending start event); keep them if the write fails."""
        with self._lock:
            count, start = self.count, self.window_start
        now = time.time()
        try:
            with postgres.connect_primary(self.layout) as conn:
                if self.pending_event:
                    conn.execute("INSERT INTO events (ts, node, kind, detail) "
                                 "VALUES (%s, %s, 'app_up', %s)",
                                 (now, self.node, self.pending_event))
                    self.pending_event = None
                conn.execute("INSERT INTO metrics (ts, node, requests, window_s) "
                             "VALUES (%s, %s, %s, %s)", (now, self.node, count, now - start))
        except Exception as exc:  # noqa: BLE001 - monitoring must never break the NBI
            log.warning("monitoring write to PostgreSQL failed (kept for the next window): %s",
                        exc)
            return
        with self._lock:
            self.count -= count
            self.window_start = now

    def run(self) -> None:
        while True:
            time.sleep(WINDOW)
            self.flush()


class CountRequests:
    """A pure ASGI middleware: counts each request but Apache's probes, and adds nothing else
    to it. (`@app.middleware("http")`, Starlette's BaseHTTPMiddleware, ran every request and its
    answer through a task and a stream of its own: it cost more than the NBI's own routes.)"""

    def __init__(self, app: Any, meter: RequestMeter) -> None:
        self.app, self.meter = app, meter

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Apache's probes (five a second per balancer and member) are not load
        if scope["type"] == "http" and scope["path"] != "/health":
            self.meter.hit()
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    meter = RequestMeter(app.state.layout, app.state.node)
    app.state.meter = meter
    app.add_middleware(CountRequests, meter=meter)
    app.include_router(router)


@router.get("/metrics")
def recent_metrics(request: Request, limit: int = Query(20, ge=1, le=500)) -> dict[str, Any]:
    """The newest request-count windows of every app server, from the PostgreSQL primary."""
    try:
        with postgres.connect_primary(request.app.state.layout) as conn:
            rows = conn.execute("SELECT ts, node, requests, window_s FROM metrics "
                                "ORDER BY id DESC LIMIT %s", (limit,)).fetchall()
    except LabError as exc:
        raise HTTPException(503, exc.message, headers={"Retry-After": "2"}) from None
    return {"metrics": rows}


class EventIn(BaseModel):
    kind: str = Field("note", min_length=1, max_length=40)
    detail: str = Field(min_length=1, max_length=1000)


@router.post("/events", status_code=201)
def record_event(body: EventIn, request: Request) -> dict[str, Any]:
    """One event row on the primary; 201 means committed (synchronously replicated when the
    topology keeps the pair synchronous). 503: no primary reached, nothing written."""
    layout = request.app.state.layout
    try:
        conn = postgres.connect_primary(layout)
    except LabError as exc:
        raise HTTPException(503, exc.message, headers={"Retry-After": "2"}) from None
    with conn:  # a failure after this point is an unknown outcome: a 500, never a 503
        row = conn.execute("INSERT INTO events (ts, node, kind, detail) VALUES (%s, %s, %s, %s) "
                           "RETURNING id", (time.time(), request.app.state.node, body.kind,
                                            body.detail)).fetchone()
        served = layout.node_of(conn.info.host)
    return {"id": row["id"], "kind": body.kind, "detail": body.detail, "postgres": served}


@router.get("/events")
def list_events(request: Request, prefix: str = Query("", max_length=200),
                limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
    """Events whose detail starts with `prefix`, newest first, from the primary."""
    try:
        with postgres.connect_primary(request.app.state.layout) as conn:
            rows = conn.execute("SELECT id, ts, node, kind, detail FROM events "
                                "WHERE left(detail, length(%s)) = %s ORDER BY id DESC LIMIT %s",
                                (prefix, prefix, limit)).fetchall()
    except LabError as exc:
        raise HTTPException(503, exc.message, headers={"Retry-After": "2"}) from None
    return {"events": rows}
