"""Business data on the NBI: a notes resource stored in the replicated MySQL tier.

Lessons write notes through the VIP and read them back from each MySQL instance directly
(`GET /api/notes/{id}?instance=node2`) to see replication at work. Every write goes to the
active instance; during a failover there is none for a few seconds, and the client gets a 503
with `Retry-After` — a retryable answer, never a silently lost write.

An answer never claims more than the app server knows. A write refused before the INSERT left
(no writable instance, a read-only server) is a 503 with `"outcome": "not done"`. A connection
that broke after the INSERT was sent is a 504 with `"outcome": "unknown"`: the row may well be
committed, and a blind retry would write it twice. A client that sends an `Idempotency-Key`
header can retry with the same key: the note is written at most once, and the retry returns it
(`"replayed": true`) or writes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from labkit.db import mysql
from labkit.errors import LabError
from labkit.layout import Layout

#: the server refused the statement (read-only standby) or was never reached: certainly not done
NOT_DONE = {1290, 1836, 2003}
#: the connection broke (gone away, lost during the query): done or not, nobody here knows
CONNECTION_LOST = {2006, 2013, 2055}
DUPLICATE_KEY = 1062
#: the header's value: what a client may use as a key (a UUID fits)
IDEMPOTENCY_KEY = r"^[A-Za-z0-9._:-]{1,64}$"

router = APIRouter(prefix="/api/notes", tags=["notes"])


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


class OutcomeUnknown(LabError):
    """The statement left, then the connection broke: it may or may not have been committed."""


def install(app: FastAPI) -> None:
    """Add the notes router and the handler that turns a failover into a retryable 503."""
    app.include_router(router)

    @app.exception_handler(mysql.FailoverInProgress)
    async def _failover(_request: Request, exc: mysql.FailoverInProgress) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "hint": exc.hint, "retryable": True,
                             "outcome": "not done"},
                            status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(OutcomeUnknown)
    async def _unknown(_request: Request, exc: OutcomeUnknown) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "hint": exc.hint, "retryable": False,
                             "outcome": "unknown"}, status_code=504)


@contextmanager
def active_cursor(layout: Layout, write: bool = False) -> Iterator[Any]:
    """A cursor on the active instance; server errors become HTTP answers, not stack traces."""
    conn = mysql.connect_active(layout, timeout=1.0)
    try:
        with conn.cursor() as cur:
            yield cur
    except pymysql.MySQLError as exc:
        raise http_error(exc, write) from None
    finally:
        conn.close()


def http_error(exc: pymysql.MySQLError, write: bool = False) -> Exception:
    """What a MySQL error means to the client: not done, unknown, or a plain server error.

    A read that lost its connection changed nothing: it is simply not done.
    """
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
    text = exc.args[1] if len(exc.args) > 1 else str(exc)
    if code in NOT_DONE or (code in CONNECTION_LOST and not write):
        return mysql.FailoverInProgress(f"MySQL statement not done ({code}: {text})",
                                        "retry in a few seconds")
    if code in CONNECTION_LOST:
        return OutcomeUnknown(
            f"MySQL outcome unknown: the connection broke after the statement was sent "
            f"({code}: {text}); it may have been committed",
            "look before you retry: a retry with the same Idempotency-Key header is safe, "
            "a blind retry may write twice")
    return HTTPException(500, f"MySQL error {code}: {text}")


def _layout(request: Request) -> Layout:
    return request.app.state.layout


@router.post("", status_code=201)
def create_note(body: NoteIn, request: Request, response: Response,
                idempotency_key: str | None = Header(
                    None, pattern=IDEMPOTENCY_KEY, description="send the same key again after "
                    "an unknown outcome: the note is written at most once")) -> dict[str, Any]:
    node = request.app.state.node
    with active_cursor(_layout(request), write=True) as cur:
        if idempotency_key is not None and (done := _by_key(cur, idempotency_key)):
            return _replayed(done, request, response, cur)
        try:
            cur.execute("INSERT INTO notes (text, written_by, created, idem_key) "
                        "VALUES (%s, %s, %s, %s)", (body.text, node, time.time(), idempotency_key))
        except pymysql.IntegrityError as exc:  # the same key, written by a concurrent request
            if exc.args[0] != DUPLICATE_KEY or idempotency_key is None:
                raise
            return _replayed(_by_key(cur, idempotency_key), request, response, cur)
        note_id = cur.lastrowid
        cur.execute("SELECT @@gtid_current_pos AS gtid")
        gtid = cur.fetchone()["gtid"]
        served_by = _server_node(request, cur)
    return {"id": note_id, "text": body.text, "written_by": node, "mysql": served_by,
            "gtid": gtid, "replayed": False}


def _replayed(note: dict[str, Any] | None, request: Request, response: Response,
              cur: Any) -> dict[str, Any]:
    """The note an earlier request with this key wrote: 200, not a second row."""
    response.status_code = 200
    return {**(note or {}), "mysql": _server_node(request, cur), "replayed": True}


def _by_key(cur: Any, key: str) -> dict[str, Any] | None:
    cur.execute("SELECT id, text, written_by, created FROM notes WHERE idem_key = %s", (key,))
    return cur.fetchone()


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
        raise http_error(exc) from None
    finally:
        conn.close()


@router.delete("/{note_id}")
def delete_note(note_id: int, request: Request) -> dict[str, Any]:
    with active_cursor(_layout(request), write=True) as cur:
        deleted = cur.execute("DELETE FROM notes WHERE id = %s", (note_id,))
    if not deleted:
        raise HTTPException(404, f"no note {note_id}")
    return {"deleted": note_id}
