"""The NBI asks who you are (issue 14): every operation but health, the API description and
the login needs HTTP Basic or a session; deleting needs the admin role. Run on the app itself,
with the walk that the integration test also runs through the VIP."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from labkit.appserver import auth
from labkit.appserver.app import create_app
from labkit.appserver.sessions import MemorySessionStore
from tests.nbi_walk import operations, who_gets_in


def _app(layout):
    app = create_app(layout, "node1", sessions=MemorySessionStore())

    @app.delete("/api/walk-delete")
    def gone() -> dict:  # an admin-only probe that touches nothing
        return {"deleted": True}

    return app


@pytest.fixture
def client(saved_layout):
    return TestClient(_app(saved_layout))


def test_the_walk_finds_every_operation_closed(client, saved_layout):
    schema = client.get("/openapi.json").json()
    assert len(operations(schema)) > 20  # every tier's routes are in the walk
    assert who_gets_in(client, schema, saved_layout.nbi_auth("learner")) == []


def test_the_walk_fails_an_nbi_that_lets_in_too_much(saved_layout, monkeypatch):
    # deliberately broken: /api/node public by mistake, the role check dropped
    monkeypatch.setattr(auth, "PUBLIC", auth.PUBLIC | {"/api/node"})
    monkeypatch.setattr(auth, "needs_admin", lambda method, path: False)
    broken = TestClient(_app(saved_layout), raise_server_exceptions=False)
    wrong = who_gets_in(broken, broken.get("/openapi.json").json(),
                        saved_layout.nbi_auth("learner"))
    assert "GET /api/node without credentials answered 200" in wrong
    assert "DELETE /api/walk-delete as learner answered 200" in wrong


def test_basic_credentials_let_in_and_say_who(client, saved_layout):
    r = client.get("/api/node", auth=saved_layout.nbi_auth("learner"))
    assert r.status_code == 200 and r.json()["user"] == "learner"
    assert client.delete("/api/walk-delete", auth=saved_layout.nbi_auth("admin")).json() == {
        "deleted": True}


@pytest.mark.parametrize("header, says", [
    (None, "authentication required"),
    ("Basic " + base64.b64encode(b"learner:wrong").decode(), "wrong user or password"),
    ("Basic " + base64.b64encode(b"root:x").decode(), "wrong user or password"),
    ("Basic not-base64!", "malformed"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed"),
    ("Bearer abc", "not Bearer"),
])
def test_bad_credentials_get_401_with_a_plain_reason(client, header, says):
    r = client.get("/api/node", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and says in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Basic")


def test_the_learner_may_not_delete(client, saved_layout):
    r = client.delete("/api/walk-delete", auth=saved_layout.nbi_auth("learner"))
    assert r.status_code == 403
    assert r.json()["detail"] == ("DELETE /api/walk-delete needs the admin role; "
                                  "learner has the role user")


def test_login_checks_the_password_and_the_session_then_suffices(client, saved_layout):
    user, password = saved_layout.nbi_auth("admin")
    assert client.post("/api/login", json={"user": user, "password": "nope"}).status_code == 401
    assert client.post("/api/login", json={"user": user}).status_code == 422
    login = client.post("/api/login", json={"user": user, "password": password})
    assert login.status_code == 200 and login.json()["role"] == "admin"
    assert client.get("/api/node").json()["user"] == "admin"  # the cookie alone
    assert client.get("/api/session").json()["hits"] == 2  # each request counted once
    assert client.delete("/api/walk-delete").status_code == 200
    client.post("/api/logout")
    client.cookies.set("JSESSIONID", login.cookies["JSESSIONID"])
    r = client.get("/api/node")
    assert r.status_code == 401 and "log in again" in r.json()["detail"]


def test_the_api_description_says_how_to_authenticate(client):
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    assert schema["paths"]["/health"]["get"]["security"] == []
    assert "admin role" in schema["paths"]["/api/walk-delete"]["delete"]["description"]


def test_labs_from_before_the_nbi_users_derive_stable_passwords(saved_layout):
    del saved_layout.secrets["nbi_learner"]
    first = saved_layout.nbi_password("learner")
    assert first == saved_layout.nbi_password("learner") != saved_layout.nbi_password("admin")


def test_every_answer_names_its_node_a_refusal_too(client, saved_layout):
    """`Cluster.rotation` tells which app server app-slow sent it to from this header, on a
    route that refuses (401: no session) as on one that answers."""
    assert client.get("/api/node", auth=saved_layout.nbi_auth("learner")
                      ).headers["x-labkit-node"] == "node1"
    refused = client.get("/api/session", auth=saved_layout.nbi_auth("learner"))
    assert refused.status_code == 401 and refused.headers["x-labkit-node"] == "node1"
    stranger = client.get("/api/node")
    assert stranger.status_code == 401 and stranger.headers["x-labkit-node"] == "node1"
    assert len(stranger.headers.get_list("x-labkit-node")) == 1
