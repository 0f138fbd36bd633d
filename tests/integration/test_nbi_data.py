"""The NBI on the MySQL tier: notes written through the VIP, sessions that outlive their node."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.db_helpers import pair, wait_until

pytestmark = pytest.mark.lab


def ok_json(r: httpx.Response) -> dict | None:
    """The body of a 200 answer; None for anything else (keep polling)."""
    return r.json() if r.status_code == 200 else None


def test_a_note_written_through_the_vip_reaches_both_instances(lab):
    active, standby = pair(lab)
    r = httpx.post(lab.vip_url + "/api/notes", json={"text": "replicate me"})
    assert r.status_code == 201
    note = r.json()
    assert note["mysql"] == active
    for node in (active, standby):
        got = wait_until(lambda n=node: ok_json(httpx.get(
            f"{lab.vip_url}/api/notes/{note['id']}", params={"instance": n})),
            30, f"the note on {node}")
        assert got["text"] == "replicate me" and got["read_from"] == node


def test_bad_note_requests_get_clear_errors(lab):
    assert httpx.post(lab.vip_url + "/api/notes", json={"text": ""}).status_code == 422
    assert httpx.get(lab.vip_url + "/api/notes/999999999").status_code == 404
    r = httpx.get(lab.vip_url + "/api/notes/1", params={"instance": "node4"})
    assert r.status_code == 422 and "runs no MySQL" in r.json()["detail"]


def test_sessions_live_in_mysql_and_survive_their_nodes_crash(lab):
    active, _ = pair(lab)
    with lab.client() as c:
        for _ in range(12):  # round-robin: land the session on the MySQL active's node
            c.cookies.clear()
            login = c.post("/api/login", json={"user": "ann"}).json()
            if login["node"] == active:
                break
        assert login["node"] == active and login["store"] == "mysql"
        before = c.get("/api/session").json()["hits"]

        lab.fail(active, "crash")  # its app server, its MySQL and (node1) the VIP go at once
        after = wait_until(lambda: ok_json(c.get("/api/session", timeout=15)), 90,
                           "the session answering from another node")
    assert after["user"] == "ann" and after["created_on"] == active
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
        answers.append(httpx.post(url, json={"text": f"during {len(answers)}"}, timeout=30))
        if answers[-1].status_code == 201 and answers[-1].json()["mysql"] == standby:
            break
    assert answers[-1].status_code == 201, "no write succeeded on the promoted standby"
    refused = [r for r in answers if r.status_code != 201]
    assert all(r.status_code == 503 and r.json()["retryable"] for r in refused), \
        [(r.status_code, r.text[:100]) for r in refused]
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
