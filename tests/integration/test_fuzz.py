"""Hostile and malformed requests to the NBI: clear 4xx errors, no 5xx, no stack trace, no change.

Schemathesis generates invalid requests for every operation in the app servers' OpenAPI, sent
through the VIP with the lab's credentials, and valid ones (positive mode) that must not meet a
server error either; hand-written hostile requests cover what a schema cannot describe, and a
path-traversal name goes raw on the socket, where no HTTP client normalises it.
"""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

#: collection endpoints whose content must not change under invalid requests (those that exist)
COLLECTIONS = ("/api/notes", "/api/files", "/api/devices", "/api/jobs")


def snapshot(lab) -> dict:
    paths = httpx.get(lab.vip_url + "/openapi.json", auth=lab.auth()).json()["paths"]
    data = {p: httpx.get(lab.vip_url + p, auth=lab.auth()).json()
            for p in COLLECTIONS if "get" in paths.get(p, {})}
    data["nodes"] = [(n["name"], n["state"]) for n in lab.status()["nodes"]]
    return data


def schemathesis() -> str:
    return shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")


def test_schemathesis_negative_run_finds_no_server_error(lab, tmp_path):
    st = schemathesis()
    before = snapshot(lab)
    res = subprocess.run(
        [st, "run", lab.vip_url + "/openapi.json", "--mode", "negative",
         "--checks", "not_a_server_error,negative_data_rejection", "--max-examples", "25",
         # admin: the deletes' validation too; the credentials are not test data (a request
         # without them is refused before validation: tests/nbi_walk.py checks that)
         "--auth", ":".join(lab.auth("admin")), "--generation-with-security-parameters", "false",
         "--workers", "1", "--generation-deterministic", "--request-timeout", "10",
         "--exclude-path-regex", "^/api/(faults|chaos)"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    generated = re.search(r"(\d+) generated", res.stdout)
    assert generated and int(generated.group(1)) > 0, res.stdout[-2000:]
    assert snapshot(lab) == before


HOSTILE = [
    ("POST", "/api/login", {"content": b"{not json"}),
    ("POST", "/api/login", {"json": {"user": "x" * 10_000}}),
    ("POST", "/api/login", {"json": {"user": "'; DROP TABLE sessions; --"}}),
    ("POST", "/api/login", {"json": ["a", "list"]}),
    ("GET", "/api/session", {"headers": {"Cookie": "JSESSIONID=../../etc/passwd.node1"}}),
    ("GET", "/api/session", {"headers": {"Cookie": "JSESSIONID=" + "A" * 4000}}),
    ("GET", "/api/../../etc/passwd", {}),
    ("DELETE", "/api/node", {}),
]


@pytest.mark.parametrize("method, path, kwargs", HOSTILE)
def test_hostile_requests_get_a_clear_client_error(lab, method, path, kwargs):
    r = httpx.request(method, lab.vip_url + path, timeout=10, **kwargs, auth=lab.auth())
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "' not in r.text


def test_schemathesis_positive_run_as_the_learner_finds_no_server_error(lab, tmp_path):
    """Valid requests with the learner's credentials: every answer below 500 (the deletes get
    403). What the run created is removed after it."""
    with lab.mysql.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 0) AS last FROM notes")
        last_note = cur.fetchone()["last"]
    files = {f["name"] for f in lab.files.ls()}
    try:
        res = subprocess.run(
            [schemathesis(), "run", lab.vip_url + "/openapi.json", "--mode", "positive",
             "--checks", "not_a_server_error", "--max-examples", "10",
             "--auth", ":".join(lab.auth("learner")),
             "--generation-with-security-parameters", "false", "--phases", "examples,fuzzing",
             "--workers", "1", "--generation-deterministic", "--request-timeout", "30",
             "--exclude-path-regex", "^/api/(faults|chaos|devices|jobs)"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    finally:
        with lab.mysql.connect() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM notes WHERE id > %s", (last_note,))
        for f in lab.files.ls():
            if f["name"] not in files:
                lab.files.delete(f["name"])


@pytest.mark.parametrize("path", ["/api/files/../../../../etc/passwd",
                                  "/api/files/..%2f..%2f..%2fetc%2fpasswd",
                                  "/api/files/%2e%2e/%2e%2e/etc/passwd/info"])
def test_a_traversal_name_sent_raw_gets_4xx_and_reveals_nothing(lab, path):
    token = base64.b64encode(":".join(lab.auth()).encode()).decode()
    with socket.create_connection((lab.layout.vip, lab.layout.ports.http), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nAuthorization: Basic {token}\r\n"
                  "Connection: close\r\n\r\n".encode())
        answer = b""
        while piece := s.recv(65536):
            answer += piece
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:300]
    assert b"root:" not in answer and b"Traceback" not in answer
