"""The NBI on the MySQL tier: notes written through the VIP, sessions that outlive their node."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.integration.conftest import login_body
from tests.integration.db_helpers import pair, wait_until

pytestmark = pytest.mark.lab


def ok_json(r: httpx.Response) -> dict | None:
    """The body of a 200 answer; None for anything else (keep polling)."""
    return r.json() if r.status_code == 200 else None


def test_a_note_written_through_the_vip_reaches_both_instances(lab):
    active, standby = pair(lab)
    r = httpx.post(lab.vip_url + "/api/notes", json={"text": "replicate me"}, auth=lab.auth())
    assert r.status_code == 201
    note = r.json()
    assert note["mysql"] == active
    for node in (active, standby):
        got = wait_until(lambda n=node: ok_json(httpx.get(
            f"{lab.vip_url}/api/notes/{note['id']}", params={"instance": n}, auth=lab.auth())),
            30, f"the note on {node}")
        assert got["text"] == "replicate me" and got["read_from"] == node


def test_bad_note_requests_get_clear_errors(lab):
    assert httpx.post(lab.vip_url + "/api/notes", json={"text": ""},
                      auth=lab.auth()).status_code == 422
    assert httpx.get(lab.vip_url + "/api/notes/999999999", auth=lab.auth()).status_code == 404
    r = httpx.get(lab.vip_url + "/api/notes/1", params={"instance": "node4"}, auth=lab.auth())
    assert r.status_code == 422 and "runs no MySQL" in r.json()["detail"]


def test_sessions_live_in_mysql_and_survive_their_nodes_crash(lab):
    active, _ = pair(lab)
    with lab.client() as c:
        for _ in range(12):  # round-robin: land the session on the MySQL active's node
            c.cookies.clear()
            login = c.post("/api/login", json=login_body(lab)).json()
            if login["node"] == active:
                break
        assert login["node"] == active and login["store"] == "mysql"
        before = c.get("/api/session").json()["hits"]

        lab.fail(active, "crash")  # its app server, its MySQL and (node1) the VIP go at once
        after = wait_until(lambda: ok_json(c.get("/api/session", timeout=15)), 90,
                           "the session answering from another node")
    assert after["user"] == "learner" and after["created_on"] == active
    assert after["node"] != active
    assert after["hits"] > before


def test_writes_during_a_failover_are_refused_retryably_never_lost(lab):
    active, standby = pair(lab)
    writer = next(n.name for n in lab.layout.nodes if n.has("app") and n.name != active)
    url = lab.layout.app_url(writer) + "/api/notes"
    answers: list[httpx.Response] = []
    lab.fail(active, "freeze")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        answers.append(httpx.post(url, json={"text": f"during {len(answers)}"}, timeout=30,
                                  auth=lab.auth()))
        if answers[-1].status_code == 201 and answers[-1].json()["mysql"] == standby:
            break
    assert answers[-1].status_code == 201, "no write succeeded on the promoted standby"
    refused = [r for r in answers if r.status_code == 503]
    unknown = [r for r in answers if r.status_code == 504]  # the connection broke mid-INSERT
    assert len(refused) + len(unknown) + sum(r.status_code == 201 for r in answers) \
        == len(answers), [(r.status_code, r.text[:100]) for r in answers]
    assert all(r.json()["retryable"] and r.json()["outcome"] == "not done" for r in refused)
    assert all(r.json()["outcome"] == "unknown" for r in unknown)
    assert all(r.headers.get("retry-after") for r in refused)
    conn = lab.mysql.connect()
    try:
        with conn.cursor() as cur:
            for r in answers:
                if r.status_code == 201:
                    cur.execute("SELECT text FROM notes WHERE id = %s", (r.json()["id"],))
                    assert cur.fetchone()["text"] == r.json()["text"]
    finally:
        conn.close()


def test_a_write_whose_connection_broke_says_outcome_unknown_and_a_keyed_retry_writes_once(lab):
    """Loss path 5: the INSERT left, then its connection broke. The answer is "unknown", not
    "not done"; a retry with the same Idempotency-Key writes the note once, however often sent."""
    key = f"k-{uuid.uuid4().hex}"
    text = f"unknown outcome {key}"
    answers: list[httpx.Response] = []

    def post() -> None:
        answers.append(httpx.post(lab.vip_url + "/api/notes", json={"text": text},
                                  headers={"Idempotency-Key": key}, timeout=30, auth=lab.auth()))

    lock = lab.mysql.connect()
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLES notes READ")  # reads pass; the app server's INSERT waits
            sender = threading.Thread(target=post)
            sender.start()
            waiting = wait_until(lambda: _insert_waiting(cur, text), 8, "the INSERT waiting")
            cur.execute(f"KILL CONNECTION {int(waiting)}")  # its connection breaks mid-statement
            sender.join(30)
            cur.execute("UNLOCK TABLES")
    finally:
        lock.close()
    assert answers[0].status_code == 504, answers[0].text
    assert answers[0].json()["outcome"] == "unknown" and not answers[0].json()["retryable"]

    retried = [httpx.post(lab.vip_url + "/api/notes", json={"text": text},
                          headers={"Idempotency-Key": key}, auth=lab.auth()) for _ in range(3)]
    assert [r.status_code for r in retried] == [201, 200, 200]
    assert [r.json()["replayed"] for r in retried] == [False, True, True]
    assert len({r.json()["id"] for r in retried}) == 1
    listed = httpx.get(lab.vip_url + "/api/notes", params={"prefix": text},
                       auth=lab.auth()).json()["notes"]
    assert len(listed) == 1


def test_a_malformed_idempotency_key_is_refused_and_writes_nothing(lab):
    text = f"bad key {uuid.uuid4().hex}"
    r = httpx.post(lab.vip_url + "/api/notes", json={"text": text},
                   headers={"Idempotency-Key": "two words"}, auth=lab.auth())
    assert r.status_code == 422
    assert httpx.get(lab.vip_url + "/api/notes", params={"prefix": text},
                     auth=lab.auth()).json()["notes"] == []


def test_an_oversized_body_is_refused_at_the_balancer_and_writes_nothing(lab):
    text = f"huge {uuid.uuid4().hex}"
    r = httpx.post(lab.vip_url + "/api/notes", content=b'{"text": "' + text.encode() +
                   b'", "pad": "' + b"x" * (2 << 20) + b'"}',
                   headers={"Content-Type": "application/json"}, timeout=30, auth=lab.auth())
    assert r.status_code == 413, r.text[:200]
    assert httpx.get(lab.vip_url + "/api/notes", params={"prefix": text},
                     auth=lab.auth()).json()["notes"] == []


def _insert_waiting(cur, text: str) -> int | None:
    cur.execute("SELECT id FROM information_schema.processlist "
                "WHERE info LIKE 'INSERT INTO notes%%' AND info LIKE %s", (f"%{text}%",))
    row = cur.fetchone()
    return row["id"] if row else None
