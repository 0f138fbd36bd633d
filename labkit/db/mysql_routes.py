"""Business data on the NBI: a notes resource stored in the replicated MySQL tier.

Lessons write notes through the VIP and read them back from each MySQL instance directly
(`GET /api/notes/{id}?instance=node2`) to see replication at work. Every write goes to the
active instance; during a failover there is none for a few seconds, and the client gets a 503
with `Retry-After` — a retryable answer, never a silently lost write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from labkit.db import mysql
from labkit.layout import Layout

#: MySQL errors that mean "not now, try again" rather than "your request is wrong":
#: the server is read-only (a standby), gone, or the connection broke mid-statement.
RETRYABLE = {1290, 1836, 2003, 2006, 2013, 2055}

router = APIRouter(prefix="/api/notes", tags=["notes"])


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


def install(app: FastAPI) -> None:
    """Add the notes router and the handler that turns a failover into a retryable 503."""
    app.include_router(router)

    @app.exception_handler(mysql.FailoverInProgress)
    async def _failover(_request: Request, exc: mysql.FailoverInProgress) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "hint": exc.hint, "retryable": True},
                            status_code=503, headers={"Retry-After": "2"})


@contextmanager
def active_cursor(layout: Layout) -> Iterator[Any]:
    """A cursor on the active instance; server errors become HTTP answers, not stack traces."""
    conn = mysql.connect_active(layout, timeout=1.0)
    try:
        with conn.cursor() as cur:
            yield cur
    except pymysql.MySQLError as exc:
        raise _http_error(exc) from None
    finally:
        conn.close()


def _http_error(exc: pymysql.MySQLError) -> Exception:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    text = exc.args[1] if len(exc.args) > 1 else str(exc)
    if code in RETRYABLE:
        return mysql.FailoverInProgress(f"MySQL write not done ({code}: {text})",
                                        "retry in a few seconds")
    return HTTPException(500, f"MySQL error {code}: {text}")


def _layout(request: Request) -> Layout:
    return request.app.state.layout


@router.post("", status_code=201)
def create_note(body: NoteIn, request: Request) -> dict[str, Any]:
    node = request.app.state.node
    with active_cursor(_layout(request)) as cur:
        cur.execute("INSERT INTO notes (text, written_by, created) VALUES (%s, %s, %s)",
                    (body.text, node, time.time()))
        note_id = cur.lastrowid
        cur.execute("SELECT @@gtid_current_pos AS gtid")
        gtid = cur.fetchone()["gtid"]
        served_by = _server_node(request, cur)
    return {"id": note_id, "text": body.text, "written_by": node, "mysql": served_by,
            "gtid": gtid}


def _server_node(request: Request, cur: Any) -> str | None:
    """Which MySQL node the cursor's connection reached (the active, at that moment)."""
    return _layout(request).node_of(cur.connection.host)


@router.get("")
def list_notes(request: Request, limit: int = Query(50, ge=1, le=100_000),
               prefix: str = Query("", max_length=200, description="only notes whose text "
                                   "starts with this (a chaos client reads back its own)"),
               ) -> dict[str, Any]:
    with active_cursor(_layout(request)) as cur:
        cur.execute("SELECT id, text, written_by, created FROM notes "
                    "WHERE LEFT(text, CHAR_LENGTH(%s)) = %s ORDER BY id DESC LIMIT %s",
                    (prefix, prefix, limit))
        rows = cur.fetchall()
        cur.execute("SELECT COUNT(*) AS n FROM notes")
        total = cur.fetchone()["n"]
        served_by = _server_node(request, cur)
    return {"notes": rows, "total": total, "mysql": served_by}


@router.get("/{note_id}")
def get_note(note_id: int, request: Request,
             instance: str | None = Query(None, description="read from this MySQL node "
                                          "directly (e.g. the standby) instead of the active"),
             ) -> dict[str, Any]:
    layout = _layout(request)
    row = _read_note(layout, note_id, instance)
    if row is None:
        where = f" on {instance}" if instance else ""
        raise HTTPException(404, f"no note {note_id}{where}")
    return {**row, "read_from": instance or "active"}


def _fetch_note(cur: Any, note_id: int) -> dict[str, Any] | None:
    cur.execute("SELECT id, text, written_by, created FROM notes WHERE id = %s", (note_id,))
    return cur.fetchone()


def _read_note(layout: Layout, note_id: int, instance: str | None) -> dict[str, Any] | None:
    if instance is None:
        with active_cursor(layout) as cur:
            return _fetch_note(cur, note_id)
    if instance not in mysql.nodes(layout):
        raise HTTPException(422, f"{instance!r} runs no MySQL instance; "
                                 f"choose one of {', '.join(mysql.nodes(layout))}")
    try:
        conn = mysql.connect(layout, instance, timeout=1.0)
    except pymysql.MySQLError as exc:
        raise HTTPException(503, f"MySQL on {instance} does not answer: {exc.args[-1]}") \
            from None
    try:
        with conn.cursor() as cur:
            return _fetch_note(cur, note_id)
    except pymysql.MySQLError as exc:
        raise _http_error(exc) from None
    finally:
        conn.close()


@router.delete("/{note_id}")
def delete_note(note_id: int, request: Request) -> dict[str, Any]:
    with active_cursor(_layout(request)) as cur:
        deleted = cur.execute("DELETE FROM notes WHERE id = %s", (note_id,))
    if not deleted:
        raise HTTPException(404, f"no note {note_id}")
    return {"deleted": note_id}
