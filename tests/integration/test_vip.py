"""The VIP moves to the standby load balancer when its owner crashes or freezes."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import wait_in_rotation


def wait_answer(url: str, auth: tuple[str, str], timeout: float = 30) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if httpx.get(url, timeout=1, auth=auth).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def wait_owner(lab, other: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.status()["vip"]["owner"] == other:
            return
        time.sleep(0.1)
    raise AssertionError(f"VIP owner is {lab.status()['vip']['owner']}, expected {other}")


@pytest.mark.parametrize("mode", ["crash", "freeze"])
def test_vip_moves_when_its_owner_fails(lab, mode):
    owner = lab.status()["vip"]["owner"]
    assert owner in {"node1", "node2"}
    other = ({"node1", "node2"} - {owner}).pop()
    since = time.time()
    lab.fail(owner, mode)
    wait_owner(lab, other)
    wait_answer(lab.vip_url + "/api/node", lab.auth())
    # the failed node's app server drops out of the rotation once its health check fails
    wait_in_rotation(lab, {n.name for n in lab.layout.topology.with_role("app")} - {owner})
    st = lab.status()
    assert st["vip"]["views"][other] == "master"
    assert next(n for n in st["nodes"] if n["name"] == owner)["state"] == \
        {"crash": "crashed", "freeze": "frozen"}[mode]
    kinds = [(e["kind"], e.get("owner") or e.get("node")) for e in lab.events(since)]
    assert ("fault", owner) in kinds and ("vip", other) in kinds
    # the learner's traffic keeps flowing through the new owner
    with lab.client(https=True) as c:
        assert c.get("/api/node").status_code == 200


def test_returning_owner_does_not_take_the_vip_back_without_preemption(lab):
    owner = lab.status()["vip"]["owner"]
    other = ({"node1", "node2"} - {owner}).pop()
    lab.fail(owner, "crash")
    wait_owner(lab, other)
    lab.recover(owner)
    time.sleep(3 * lab.layout.topology.vrrp.advert_interval * 2)
    vip = lab.status()["vip"]
    assert vip["owner"] == other
    assert vip["views"][owner] == "backup"


def test_status_json_shape(lab):
    st = lab.status()
    assert st["backend"] == lab.layout.backend
    assert st["network"] == {"local": "loopback"}.get(lab.layout.backend, st["network"])
    assert set(st["vip"]) >= {"address", "port", "url", "owner"}
    for n in st["nodes"]:
        assert set(n) >= {"name", "address", "state", "roles", "services"}
    assert st["vip"]["address"].startswith(lab.layout.prefix + ".")


def test_isolating_the_owner_shows_the_split_brain(lab):
    """On the session's lab (netns where the machine can run it) isolation is a real cut; the
    loopback backend's own, weaker isolation is tested in test_loopback."""
    owner = lab.status()["vip"]["owner"]
    other = ({"node1", "node2"} - {owner}).pop()
    message = lab.fail(owner, "isolate")
    wait_owner(lab, other)
    wait_answer(lab.vip_url + "/api/node", lab.auth())
    vip = lab.status()["vip"]
    # the isolated node still runs its election alone: it, too, believes it owns the VIP
    assert vip["views"][other] == "master"
    assert vip["views"][owner] == "master"
    assert vip["split_brain"] is True and set(vip["believers"]) == {owner, other}
    if lab.layout.backend == "netns":
        assert "every frame" in message
        with pytest.raises(httpx.HTTPError):
            httpx.get(lab.layout.app_url(owner) + "/health", timeout=1)
    lab.recover(owner)
    deadline = time.monotonic() + 15
    while lab.status()["vip"]["split_brain"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not lab.status()["vip"]["split_brain"]
