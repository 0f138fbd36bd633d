"""The NBI asks who you are, through the real balancer (issue 14): Apache relays the 401 and
its challenge, a session from the login works on its own, the learner cannot delete."""

from __future__ import annotations

import httpx

from tests.integration.conftest import login_body
from tests.nbi_walk import who_gets_in


def test_every_operation_through_the_vip_asks_for_credentials(lab):
    with httpx.Client(base_url=lab.vip_url, timeout=10) as anonymous:
        schema = anonymous.get("/openapi.json").json()
        assert who_gets_in(anonymous, schema, lab.auth("learner")) == []


def test_a_wrong_password_is_refused_and_changes_nothing(lab):
    before = lab.client().get("/api/notes").json()
    r = httpx.post(lab.vip_url + "/api/notes", json={"text": "intruder"},
                   auth=("learner", "guess"))
    assert r.status_code == 401 and r.json()["detail"] == "wrong user or password"
    assert r.headers["www-authenticate"].startswith("Basic")
    assert lab.client().get("/api/notes").json() == before


def test_a_session_from_the_login_works_alone_until_logout(lab):
    with httpx.Client(base_url=lab.vip_url, timeout=10) as c:  # no Basic credentials
        login = c.post("/api/login", json=login_body(lab))
        assert login.status_code == 200 and login.json()["role"] == "user"
        node = login.json()["node"]
        answer = c.get("/api/node").json()  # sticky: the session's node, by its cookie
        assert (answer["node"], answer["user"]) == (node, "learner")
        c.post("/api/logout")
        assert c.get("/api/node").status_code == 401


def test_the_learner_may_not_delete_and_the_admin_may(lab):
    note = lab.client().post("/api/notes", json={"text": "delete me"}).json()
    r = lab.client().delete(f"/api/notes/{note['id']}")
    assert r.status_code == 403 and "admin role" in r.json()["detail"]
    assert lab.client(user="admin").delete(f"/api/notes/{note['id']}").status_code == 200
