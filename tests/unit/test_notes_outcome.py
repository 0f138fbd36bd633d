"""A notes answer never claims more than the app server knows (issue 18, loss path 5)."""

from __future__ import annotations

import httpx
import pymysql
from fastapi import HTTPException

from labkit.chaos.workload import _not_done
from labkit.db import mysql
from labkit.db.mysql_routes import OutcomeUnknown, http_error


def test_a_write_whose_connection_broke_after_sending_is_unknown_not_refused():
    err = http_error(pymysql.OperationalError(2013, "Lost connection to server during query"),
                     write=True)
    assert isinstance(err, OutcomeUnknown)
    assert "outcome unknown" in err.message and "Idempotency-Key" in err.hint


def test_a_read_only_refusal_is_certainly_not_done():
    err = http_error(pymysql.OperationalError(1290, "--read-only"), write=True)
    assert isinstance(err, mysql.FailoverInProgress)
    assert "not done" in err.message and "1290" in err.message


def test_a_read_that_lost_its_connection_is_simply_not_done():
    assert isinstance(http_error(pymysql.OperationalError(2013, "lost"), write=False),
                      mysql.FailoverInProgress)


def test_other_server_errors_carry_the_servers_words():
    err = http_error(pymysql.ProgrammingError(1146, "Table 'labkit.nope' doesn't exist"),
                     write=True)
    assert isinstance(err, HTTPException) and err.status_code == 500
    assert "1146" in err.detail and "doesn't exist" in err.detail


def test_the_chaos_client_reads_the_outcome_field():
    def answer(status: int, body: dict) -> httpx.Response:
        return httpx.Response(status, json=body)
    assert _not_done(answer(503, {"detail": "MySQL statement not done", "outcome": "not done"}))
    assert _not_done(answer(503, {"detail": "no writable PostgreSQL right now"}))
    assert not _not_done(answer(503, {"detail": "anything", "outcome": "unknown"}))
    assert not _not_done(answer(503, {"detail": "MySQL write not done"}))  # no claim: unknown
    assert _not_done(httpx.Response(503, text="<html>Service Unavailable</html>"))
