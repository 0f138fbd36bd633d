"""Apache's balancer through the VIP: round-robin, sticky sessions, health checks."""

from __future__ import annotations

import time
from collections import Counter

import httpx

from labkit.ui.lesson import balancer, wait_until
from tests.integration.conftest import login_body, wait_in_rotation


def test_forty_requests_spread_ten_each(lab):
    counts = Counter(httpx.get(lab.vip_url + "/api/node",
                               auth=lab.auth()).json()["node"] for _ in range(40))
    assert set(counts) == {"node1", "node2", "node3", "node4"}
    assert all(9 <= c <= 11 for c in counts.values()), counts


def test_https_through_the_vip(lab):
    with lab.client(https=True) as c:
        assert c.get("/api/node").json()["node"] in {"node1", "node2", "node3", "node4"}


def test_sticky_session_stays_on_its_node(lab):
    with lab.client() as c:
        login = c.post("/api/login", json=login_body(lab))
        assert login.status_code == 200
        node = login.json()["node"]
        assert c.cookies["JSESSIONID"].endswith("." + node)
        answers = [c.get("/api/session").json() for _ in range(50)]
    assert {a["node"] for a in answers} == {node}
    assert answers[-1]["hits"] == 50


def test_session_without_login_is_refused(lab):
    r = httpx.get(lab.vip_url + "/api/session", auth=lab.auth())
    assert r.status_code == 401
    assert "login" in r.json()["detail"]


def test_a_crashed_app_node_leaves_the_rotation_and_comes_back(lab):
    lab.fail("node3", "crash")
    wait_in_rotation(lab, {"node1", "node2", "node4"})
    # once the health check has dropped it, no client request fails
    answers = [httpx.get(lab.vip_url + "/api/node", auth=lab.auth()) for _ in range(30)]
    assert all(r.status_code == 200 for r in answers)
    assert "node3" not in {r.json()["node"] for r in answers}
    lab.recover("node3")
    wait_in_rotation(lab, {"node1", "node2", "node3", "node4"})


def test_a_killed_app_server_is_restarted_by_its_supervisor(lab):
    before = httpx.get(lab.layout.app_url("node4") + "/api/node", auth=lab.auth()).json()["pid"]
    lab.fail("node4/app")
    deadline = time.monotonic() + 30
    after = None
    while time.monotonic() < deadline:
        try:
            after = httpx.get(lab.layout.app_url("node4") + "/api/node", timeout=1,
                              auth=lab.auth()).json()["pid"]
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    assert after is not None and after != before
    assert any(e["kind"] == "fault" and e.get("service") == "app" for e in lab.events())
    wait_in_rotation(lab, {"node1", "node2", "node3", "node4"})


def test_balancer_manager_asks_for_the_lab_admin(lab):
    url = f"http://{lab.layout.address('node1')}:{lab.layout.ports.http}/balancer-manager"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, auth=lab.auth("learner")).status_code == 401
    assert httpx.get(url, auth=("admin", "wrong")).status_code == 401
    page = httpx.get(url, auth=lab.auth("admin"))
    assert page.status_code == 200
    assert "balancer://app" in page.text and "node4" in page.text


def test_a_frozen_app_server_leaves_both_balancers_and_comes_back_thawed(lab):
    """SIGSTOP: node3's kernel still accepts connections and nothing answers. The health check
    (hcinterval, waiting `timeout`) takes it out of balancer://app, and, after its longer
    timeout, out of balancer://app-slow; from then on no request through the VIP goes to it
    and none fails. Thawed, it passes its next check and is back."""
    lab.fail("node3", "freeze")
    wait_until(lambda: not balancer(lab, "app")["node3"]["usable"], timeout=60, every=0.1)
    answers = [httpx.get(lab.vip_url + "/api/node", auth=lab.auth(), timeout=10)
               for _ in range(30)]
    assert [r.status_code for r in answers] == [200] * 30
    assert "node3" not in {r.json()["node"] for r in answers}
    wait_until(lambda: not balancer(lab, "app-slow")["node3"]["usable"], timeout=60, every=0.2)
    with lab.client() as c:  # /api/login and /api/session go through balancer://app-slow
        login = c.post("/api/login", json=login_body(lab), timeout=10)
        assert login.status_code == 200 and login.json()["node"] != "node3"
        sessions = [c.get("/api/session", timeout=10) for _ in range(10)]
    assert [r.status_code for r in sessions] == [200] * 10
    lab.recover("node3")  # SIGCONT
    wait_until(lambda: all(m["node3"]["usable"] for m in (balancer(lab, "app"),
                                                          balancer(lab, "app-slow"))),
               timeout=60)
    wait_in_rotation(lab, {"node1", "node2", "node3", "node4"})


def test_the_balancer_manager_lists_the_slow_routes_balancer_with_every_member(lab):
    assert set(balancer(lab, "app-slow")) == {"node1", "node2", "node3", "node4"}
    assert all(m["usable"] for m in balancer(lab, "app-slow").values())
