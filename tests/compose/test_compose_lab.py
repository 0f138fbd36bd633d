"""The lab on the compose backend: real containers, keepalived moving the VIP, Docker faults.

The tests run in file order on one shared compose lab; the last one (run after the folder's
other files too, see conftest.py) takes it down. The database
failover comes before the VIP faults, which also strike the MySQL pair's nodes (node1, node2) and
leave it re-electing for a while after they are mended.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import httpx
import pytest

from tests.integration.db_helpers import fail_active_mid_write_load, rows, wait_until

pytestmark = pytest.mark.lab


def addresses_in(lab, node: str) -> set[str]:
    """The IPv4 addresses on the node container's own interfaces (read inside it)."""
    out = lab.backend.container(node).exec_run(["ip", "-4", "-o", "addr", "show"]).output
    return {line.split()[3].split("/")[0] for line in out.decode().splitlines()}


def vip_pair(lab) -> tuple[str, str]:
    """(owner, standby) of the VIP once exactly one LB node holds it and says so."""
    def settled():
        vip = lab.status()["vip"]
        if vip["owner"] and vip["believers"] == [vip["owner"]]:
            return vip["owner"]
        return None
    owner = wait_until(settled, 30, "one VIP owner that alone believes it is master")
    other = next(n.name for n in lab.layout.topology.with_role("lb") if n.name != owner)
    return owner, other


def moved_to(lab, node: str) -> bool:
    """The VIP's traffic reaches `node`'s Apache, and the lab answers through it."""
    if lab.backend.vip_owner() != node:
        return False
    return httpx.get(lab.vip_url + "/api/node", timeout=2, auth=lab.auth()).status_code == 200


def test_every_node_is_a_container_on_the_labs_own_bridge(lab):
    engine, backend = lab.backend.engine, lab.backend
    net = engine.networks.get(backend.network_name)
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == f"{lab.layout.prefix}.0/24"
    for n in lab.layout.nodes:
        c = backend.container(n.name)
        c.reload()
        assert c.status == "running"
        assert c.attrs["NetworkSettings"]["Networks"][backend.network_name]["IPAddress"] == \
            lab.layout.address(n.name)
        assert "labkit-node:latest" in c.image.tags
    owner, other = vip_pair(lab)
    assert lab.layout.vip in addresses_in(lab, owner)  # keepalived put the address there
    assert lab.layout.vip not in addresses_in(lab, other)


def test_round_robin_goes_over_every_app_container(lab):
    apps = [n.name for n in lab.layout.topology.with_role("app")]
    answers = [httpx.get(lab.vip_url + "/api/node", timeout=2, auth=lab.auth()).json()
               for _ in range(10 * len(apps))]
    counts = Counter(a["node"] for a in answers)
    assert set(counts) == set(apps)
    assert all(9 <= c <= 11 for c in counts.values()), counts
    # each answer came from that node's container, at the address Docker gave it
    net = lab.backend.network_name
    for a in answers:
        c = lab.backend.container(a["node"])
        assert a["address"] == c.attrs["NetworkSettings"]["Networks"][net]["IPAddress"]


def test_a_killed_service_is_restarted_by_its_containers_supervisor(lab):
    url = lab.layout.app_url("node4") + "/api/node"
    before = httpx.get(url, timeout=2, auth=lab.auth()).json()["pid"]
    since = time.time()
    lab.fail("node4/app")
    wait_until(lambda: httpx.get(url, timeout=1, auth=lab.auth()).json()["pid"] != before, 30,
               "a new app server process answering on node4")
    assert lab.backend.node_state("node4") == "up"  # the container itself never stopped
    assert [(e["node"], e["service"]) for e in lab.events(since) if e["kind"] == "fault"] == \
        [("node4", "app")]


def test_mysql_failover_on_a_killed_container_keeps_every_acknowledged_row(lab):
    old, new, _load = fail_active_mid_write_load(lab, "crash")
    lab.recover(old)
    client = f"t-{uuid.uuid4().hex[:8]}"
    with lab.mysql.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO writes (client, seq, created) VALUES (%s, 1, %s)",
                    (client, time.time()))
    replica = lab.mysql.connect_to(old)
    try:  # the killed node came back as the new active's replica
        wait_until(lambda: rows(replica, client) == {1}, 60, f"{old} replicating from {new}")
    finally:
        replica.close()


def test_devices_move_off_a_killed_container(lab):
    devices = lab.devices
    apps = [n.name for n in lab.layout.topology.with_role("app")]
    wait_until(lambda: all(v == apps for v in devices.membership().values()), 60,
               "every app node seeing every other")
    time.sleep(lab.layout.topology.membership_timeout)  # the coordinator settles on the view
    devices.discover(40)
    devices.rebalance()
    devices.wait_connected()
    before = {r["name"]: r["node"] for r in devices.rows()}
    assert Counter(before.values()) == {n: 10 for n in apps}
    since = time.time()
    lab.fail("node3", "crash")
    wait_until(lambda: devices.status()["counts"]["node3"] == 0
               and devices.status()["connected"] == 40, 90, "node3's devices reconnected")
    moved = [e for e in lab.events(since) if e["kind"] == "device_move"]
    assert sorted(e["device"] for e in moved) == sorted(d for d, n in before.items()
                                                       if n == "node3")
    assert all(e["from"] == "node3" and e["to"] != "node3" for e in moved)
    # each moved device's NETCONF session now comes from its new node's container address
    fleet = devices.fleet([e["device"] for e in moved])
    assert all(fleet[e["device"]]["sessions"] == [lab.layout.address(e["to"])] for e in moved)
    lab.recover("node3")


def test_vip_moves_when_the_owner_container_is_killed(lab):
    owner, other = vip_pair(lab)
    since = time.time()
    lab.fail(owner, "crash")
    c = lab.backend.container(owner)
    c.reload()
    assert c.status == "exited"
    wait_until(lambda: moved_to(lab, other), 30, f"the VIP answering from {other}")
    assert lab.layout.vip in addresses_in(lab, other)
    # keepalived's notify script records the new view a moment after the address moved
    wait_until(lambda: lab.status()["vip"]["views"] == {owner: "down", other: "master"}, 10,
               f"{other}'s view: master")
    assert next(n for n in lab.status()["nodes"] if n["name"] == owner)["state"] == "crashed"
    kinds = [(e["kind"], e.get("owner") or e.get("node")) for e in lab.events(since)]
    assert ("fault", owner) in kinds and ("vip", other) in kinds

    lab.recover(owner)
    wait_until(lambda: lab.status()["vip"]["views"][owner] == "backup", 30,
               f"{owner} back as VRRP backup")
    assert lab.backend.vip_owner() == other  # no preemption: the VIP stays where it went
    assert lab.layout.vip not in addresses_in(lab, owner)


def test_vip_moves_when_the_owner_container_is_paused(lab):
    owner, other = vip_pair(lab)
    lab.fail(owner, "freeze")
    c = lab.backend.container(owner)
    c.reload()
    assert c.status == "paused"
    wait_until(lambda: moved_to(lab, other), 30, f"the VIP answering from {other}")
    assert next(n for n in lab.status()["nodes"] if n["name"] == owner)["state"] == "frozen"
    answers = [httpx.get(lab.vip_url + "/api/node", timeout=2, auth=lab.auth()) for _ in range(10)]
    assert all(r.status_code == 200 and r.headers["x-labkit-lb"] == other for r in answers)

    lab.recover(owner)
    vip_pair(lab)  # after the thaw the two routers agree again on a single master


def test_an_isolated_owner_loses_the_vip_and_rejoins_when_reconnected(lab):
    owner, other = vip_pair(lab)
    lab.fail(owner, "isolate")
    c = lab.backend.container(owner)
    c.reload()
    assert lab.backend.network_name not in c.attrs["NetworkSettings"]["Networks"]
    wait_until(lambda: moved_to(lab, other), 30, f"the VIP answering from {other}")
    # its interface is gone, so keepalived sits in FAULT and holds no address at all
    wait_until(lambda: lab.status()["vip"]["views"][owner] == "fault", 30, "keepalived FAULT")
    assert addresses_in(lab, owner) == {"127.0.0.1"}

    lab.recover(owner)
    assert addresses_in(lab, owner) >= {lab.layout.address(owner)}
    wait_until(lambda: lab.status()["vip"]["views"][owner] == "backup", 30,
               f"{owner} back as VRRP backup on its new interface")
    assert httpx.get(lab.layout.app_url(owner) + "/api/node", timeout=2,
                     auth=lab.auth()).json()["node"] == owner


def test_down_removes_every_container_and_network_it_made(compose_session):
    lab = compose_session
    label = f"com.docker.compose.project={lab.backend.project}"
    engine = lab.backend.engine
    assert engine.containers.list(all=True, filters={"label": label})
    assert engine.networks.list(names=[lab.backend.network_name])
    lab.cut("node3", "node4")  # link faults in force go with the lab, rules and record
    lab.down()
    assert engine.containers.list(all=True, filters={"label": label}) == []
    assert engine.containers.list(
        all=True, filters={"label": f"labkit.links-helper={lab.layout.rundir}"}) == []
    assert not lab.layout.paths.links.exists() and lab.links() == []
    assert engine.networks.list(filters={"label": label}) == []
    assert engine.networks.list(names=[lab.backend.network_name]) == []
    assert engine.volumes.list(filters={"label": label}) == []
    assert not lab.backend.is_running()
    assert {n["state"] for n in lab.status()["nodes"]} == {"down"}
