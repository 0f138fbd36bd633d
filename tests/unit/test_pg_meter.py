"""The app servers' request counts (the PostgreSQL pair's monitoring rows) count the clients'
requests, not Apache's health probes (five a second per balancer and member)."""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient

from labkit.db import pg_routes


def test_health_probes_are_not_counted_as_requests():
    app = FastAPI()
    app.state.layout, app.state.node = SimpleNamespace(), "node1"
    pg_routes.install(app)
    app.state.meter._thread = SimpleNamespace()  # no flushing thread: nothing to write to
    app.get("/health")(lambda: {"ok": True})
    app.get("/api/node")(lambda: {"node": "node1"})
    client = TestClient(app)
    for _ in range(5):
        assert client.get("/health").status_code == 200
    assert client.get("/api/node").status_code == 200
    assert app.state.meter.count == 1
