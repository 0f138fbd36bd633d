"""The app server bounds request bodies itself (issue 14): a client that skips the balancer
gets the same 413, by Content-Length or while a chunked body streams, and nothing is written."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from labkit.appserver.limits import BodyLimit


def _app(written: list[int]) -> TestClient:
    app = FastAPI()
    app.add_middleware(BodyLimit, limit=100, large={"/files": 1000})

    @app.post("/notes")
    @app.post("/files")
    async def take(request: Request) -> dict:
        body = await request.body()
        written.append(len(body))
        return {"got": len(body)}
    return TestClient(app)


def test_a_body_within_the_limit_passes():
    written: list[int] = []
    assert _app(written).post("/notes", content=b"x" * 100).json() == {"got": 100}
    assert written == [100]


def test_a_declared_oversized_body_is_refused_before_the_route_runs():
    written: list[int] = []
    r = _app(written).post("/notes", content=b"x" * 101)
    assert r.status_code == 413 and "nothing was written" in r.json()["detail"]
    assert written == []


def test_a_chunked_body_is_counted_as_it_streams():
    written: list[int] = []
    r = _app(written).post("/notes", content=iter([b"x" * 60, b"x" * 60]))  # no length
    assert r.status_code == 413 and written == []


def test_uploads_have_their_own_larger_limit():
    written: list[int] = []
    client = _app(written)
    assert client.post("/files", content=b"x" * 900).status_code == 200
    assert client.post("/files", content=b"x" * 1001).status_code == 413
    assert written == [900]
