"""Device mediation against the real lab: the fleet's NETCONF devices, the app servers'
sessions, MySQL's assignments, heartbeat membership and resync sub-jobs.

Every test starts and ends with the 100 devices discovered, 25 per node and all connected, so
the lessons and other tests find the lab as `tidy` leaves it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import httpx
import pytest

from labkit.appserver.membership import read_view
from labkit.devices import device_names
from tests.integration.conftest import wait_healthy

pytestmark = pytest.mark.lab
APPS = ["node1", "node2", "node3", "node4"]


def wait_for(check, timeout: float = 90, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


def views_full(lab) -> bool:
    views = lab.devices.membership()
    return all(v == APPS for v in views.values())


def settled(lab) -> bool:
    """Every node sees every node and has listened long enough to act on it."""
    snaps = [read_view(lab.layout, n) for n in APPS]
    return views_full(lab) and all(s and s["settled"] for s in snaps)


def tidy(lab) -> None:
    """100 devices discovered, balanced over the four nodes, every one connected."""
    d = lab.devices
    d.restore()
    d.set_latency(lab.layout.topology.devices.latency_ms)
    wait_for(lambda: settled(lab), what="every node seeing every node")
    d.discover(100)
    d.rebalance()
    d.wait_connected()
    assert d.counts() == {n: 25 for n in APPS}


@pytest.fixture
def devices(lab):
    tidy(lab)
    yield lab.devices
    lab.recover_all()
    wait_healthy(lab)
    tidy(lab)


def one_session_each_from_its_node(lab) -> bool:
    """The device side agrees: exactly one session per device, from its node's address."""
    rows = {r["name"]: r["node"] for r in lab.devices.rows()}
    fleet = lab.devices.fleet()
    return all(fleet[d]["sessions"] == [lab.layout.address(n)] for d, n in rows.items())


def test_discovery_places_each_device_on_the_least_loaded_node(devices, lab):
    assert devices.forget() == 100
    wait_for(lambda: not any(s["sessions"] for s in devices.fleet().values()),
             what="every session closed after forgetting")
    answer = devices.discover(100)
    assert len(answer["discovered"]) == 100 and answer["placed"] == {n: 25 for n in APPS}
    again = devices.discover(100)
    assert again["discovered"] == [] and again["already_known"] == 100
    devices.wait_connected()
    assert devices.counts() == {n: 25 for n in APPS}
    wait_for(lambda: one_session_each_from_its_node(lab), what="one session per device")
    models = {r["model"] for r in devices.rows()}
    framings = Counter(r["framing"] for r in devices.rows())
    assert models >= {"mx204", "srx345"} and framings == {"1.1": 80, "1.0": 20}


def test_a_crashed_nodes_devices_spread_over_the_survivors(devices, lab):
    since = time.time()
    before = {r["name"]: r["node"] for r in devices.rows()}
    lab.fail("node3", "crash")
    wait_for(lambda: devices.status()["counts"]["node3"] == 0
             and devices.status()["connected"] == 100, what="node3's devices reconnected")
    counts = devices.counts()
    assert sorted(counts[n] for n in ("node1", "node2", "node4")) == [33, 33, 34]
    moved = [e for e in lab.events(since) if e["kind"] == "device_move"]
    assert sorted(e["device"] for e in moved) == sorted(d for d, n in before.items()
                                                       if n == "node3")
    assert all(e["from"] == "node3" and e["to"] != "node3" for e in moved)
    wait_for(lambda: one_session_each_from_its_node(lab), what="one session per device")

    lab.recover("node3")
    wait_for(lambda: views_full(lab), what="node3 back in every view")
    time.sleep(2 * lab.layout.topology.membership_timeout)  # ample coordinator ticks
    assert devices.counts()["node3"] == 0  # a returning node gets nothing by itself
    answer = devices.rebalance()
    assert answer["moved"] == 25 and answer["counts"] == {n: 25 for n in APPS}
    devices.wait_connected()
    assert devices.counts() == {n: 25 for n in APPS}


def resync_records(lab, job_id: int) -> Counter:
    with lab.mysql.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT device FROM device_resyncs WHERE job_id = %s", (job_id,))
        return Counter(r["device"] for r in cur.fetchall())


def test_a_resync_runs_one_subjob_per_node_on_its_own_devices(devices, lab):
    serving = {r["name"]: r["node"] for r in devices.rows()}
    job = devices.resync(wait=True)
    assert job["state"] == "done" and job["done"] == job["total"] == 100
    subjobs = job["subjobs"]
    assert sorted(s["node"] for s in subjobs) == APPS
    assert all(s["total"] == 25 and s["done"] == 25 and s["state"] == "done" for s in subjobs)
    for s in subjobs:
        assert {serving[d] for d in s["devices"]} == {s["node"]}
        assert s["start"] is not None and s["end"] >= s["start"]
    assert resync_records(lab, job["id"]) == Counter(device_names(100))
    fleet = devices.fleet()
    assert all(fleet[d]["rpcs"].get("get-config", 0) >= 1 for d in device_names(100))


def test_a_subjob_whose_node_dies_runs_again_on_the_survivors(devices, lab):
    devices.set_latency(250)  # slow devices, so the crash lands in the middle of the job
    job = devices.resync(wait=False)
    victim = "node3"
    mine = next(s for s in job["subjobs"] if s["node"] == victim)
    wait_for(lambda: next(s for s in devices.job(job["id"])["subjobs"]
                          if s["id"] == mine["id"])["done"] >= 3, what="node3 under way")
    lab.fail(victim, "crash")
    job = devices.wait_job(job["id"], timeout=180)
    assert job["state"] == "done" and job["done"] == 100
    lost = next(s for s in job["subjobs"] if s["id"] == mine["id"])
    assert lost["state"] == "lost" and 3 <= lost["done"] < 25
    reruns = [s for s in job["subjobs"] if s["replaces"] == lost["id"]]
    assert reruns and all(s["node"] != victim and s["state"] == "done" for s in reruns)
    assert sum(s["total"] for s in reruns) == 25 - lost["done"]
    records = resync_records(lab, job["id"])
    assert records == Counter(device_names(100))  # every device exactly once


def test_isolation_makes_the_views_disagree(devices, lab):
    lab.fail("node4", "isolate")
    wait_for(lambda: devices.membership()["node4"] == ["node4"]
             and all(devices.membership()[n] == ["node1", "node2", "node3"]
                     for n in ("node1", "node2", "node3")), what="views split by isolation")
    st = lab.status()
    assert st["membership"]["node4"] == ["node4"]
    assert st["membership"]["node1"] == ["node1", "node2", "node3"]
    # the quorum side took node4's devices; node4 (a minority of one) let its own go
    wait_for(lambda: devices.status()["counts"]["node4"] == 0
             and devices.status()["connected"] == 100, what="node4's devices moved")
    lab.recover("node4")
    wait_for(lambda: views_full(lab), what="views whole again")


def test_a_failed_device_reconnects_to_the_same_node_when_it_returns(devices, lab):
    node = next(r["node"] for r in devices.rows() if r["name"] == "dev0007")
    since = time.time()
    assert devices.fail(["dev0007"], seconds=2) == ["dev0007"]
    wait_for(lambda: devices.status()["connected"] == 99, what="dev0007 disconnected")
    devices.wait_connected()
    assert next(r["node"] for r in devices.rows() if r["name"] == "dev0007") == node
    lost = [e for e in lab.events(since) if e["kind"] == "devices" and e.get("lost")]
    assert lost and "dev0007" in lost[0]["lost"]


def labkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_status_and_commands(devices, lab):
    res = labkit("status", "--json", "--lab", lab.layout.lab)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert st["devices"]["counts"] == {n: 25 for n in APPS}
    assert st["devices"]["total"] == 100 and st["devices"]["connected"] == 100
    assert st["membership"] == {n: APPS for n in APPS}
    res = labkit("devices", "discover", "100", "--lab", lab.layout.lab)
    assert res.returncode == 0 and "0 new device" in res.stderr, res.stderr
    res = labkit("jobs", "resync", "--lab", lab.layout.lab)
    assert res.returncode == 0, res.stderr
    assert "done: 100/100 devices" in res.stdout
    res = labkit("devices", "rebalance", "--lab", lab.layout.lab)
    assert res.returncode == 0 and "moved 0 device" in res.stderr, res.stderr


@pytest.mark.parametrize("args, words", [
    (["devices", "discover", "0"], "discover 1..100"),
    (["devices", "discover", "101"], "discover 1..100"),
    (["devices", "rebalance", "--onto", "node9"], "live app nodes"),
    (["devices", "fail", "dev0101"], "no device dev0101"),
    (["devices", "fail", "bogus"], "bad device name"),
    (["devices", "forget"], "needs --all"),
    (["devices", "latency", "70000"], "between 0 and 60000"),
    (["jobs", "resync", "0"], "at least 1"),
    (["jobs", "show", "999999"], "no job 999999"),
])
def test_bad_device_commands_are_refused_and_change_nothing(devices, lab, args, words):
    before = devices.rows()
    res = labkit(*args, "--lab", lab.layout.lab)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert words in res.stderr, res.stderr
    assert devices.rows() == before


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/api/devices/discover", {"count": 0}),
    ("POST", "/api/devices/discover", {"count": 101}),
    ("POST", "/api/devices/discover", {"devices": ["dev0001", "../etc"]}),
    ("POST", "/api/devices/discover", {"count": 5, "devices": ["dev0001"]}),
    ("POST", "/api/devices/rebalance", {"nodes": []}),
    ("POST", "/api/jobs/resync", {"count": "all"}),
    ("POST", "/api/devices/forget", {}),
    ("POST", "/api/devices/forget", {"all": "true"}),
    ("POST", "/api/devices/forget", {"all": False}),
    ("POST", "/api/devices/forget", {"all": True, "devices": ["dev0001"]}),
    ("DELETE", "/api/devices", None),
    ("DELETE", "/api/devices/dev0101", None),
    ("GET", "/api/devices/dev0101", None),
    ("GET", "/api/jobs/0", None),
])
def test_bad_device_requests_get_a_clear_4xx(devices, lab, method, path, body):
    before = devices.rows()
    r = httpx.request(method, lab.vip_url + path, json=body, timeout=10,
                      auth=lab.auth("admin"))
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "Traceback" not in r.text
    assert devices.rows() == before
