"""Hostile and malformed requests to the NBI: clear 4xx errors, no 5xx, no stack trace, no change.

Schemathesis generates invalid requests for every operation in the app servers' OpenAPI, sent
through the VIP; hand-written hostile requests cover what a schema cannot describe.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

#: collection endpoints whose content must not change under invalid requests (those that exist)
COLLECTIONS = ("/api/notes", "/api/files", "/api/devices", "/api/jobs")


def snapshot(lab) -> dict:
    paths = httpx.get(lab.vip_url + "/openapi.json").json()["paths"]
    data = {p: httpx.get(lab.vip_url + p).json() for p in COLLECTIONS if "get" in paths.get(p, {})}
    data["nodes"] = [(n["name"], n["state"]) for n in lab.status()["nodes"]]
    return data


def test_schemathesis_negative_run_finds_no_server_error(lab, tmp_path):
    st = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    before = snapshot(lab)
    res = subprocess.run(
        [st, "run", lab.vip_url + "/openapi.json", "--mode", "negative",
         "--checks", "not_a_server_error,negative_data_rejection", "--max-examples", "25",
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
    r = httpx.request(method, lab.vip_url + path, timeout=10, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "' not in r.text
