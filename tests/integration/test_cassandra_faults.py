"""The file store while a Cassandra node is broken: ONE keeps working, QUORUM and ALL say which
replica is missing, and a node that returns catches up through hints.

Every test breaks node2 (one of the two replicas); the `lab` fixture recovers it afterwards.
"""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from labkit.cassandra import ring
from tests.integration.conftest import wait_in_rotation

pytestmark = pytest.mark.lab


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(lab, name: str, consistency: str | None = None) -> httpx.Response:
    params = {"consistency": consistency} if consistency else {}
    return httpx.get(f"{lab.vip_url}/api/files/{name}", params=params, timeout=30, auth=lab.auth())


def survivors(lab) -> set[str]:
    return {n.name for n in lab.layout.topology.with_role("app")} - {"node2"}


def test_crashed_replica_files_stay_readable_and_writable_at_one(lab):
    image = os.urandom(20 * 1024 * 1024)
    lab.files.put(image, name="crash-20m.img")

    lab.fail("node2", "crash")
    wait_in_rotation(lab, survivors(lab))
    r = fetch(lab, "crash-20m.img")
    assert r.status_code == 200 and sha(r.content) == sha(image)

    for level in ("QUORUM", "ALL"):
        refused = fetch(lab, "crash-20m.img", level)
        assert refused.status_code == 503, refused.text
        assert "node2 is down" in refused.json()["detail"]
        assert refused.headers["Retry-After"]

    while_down = os.urandom(3 * 1024 * 1024 + 17)
    stored = lab.files.put(while_down, name="while-node2-down.img", consistency="ONE")
    assert stored["replicas_down"] == ["node2"]
    assert stored["consistency"] == "ONE" and "one replica only" in stored["durability"]

    lab.recover("node2")
    st = ring.wait_converged(lab.layout)  # node1 handed node2 the hints it kept
    assert [m["state"] for m in st["members"]] == ["UN", "UN"]
    on_node2 = lab.files.read_on("while-node2-down.img", "node2", "ONE")
    assert on_node2["ok"] and on_node2["sha256"] == sha(while_down), on_node2


def test_frozen_replica_does_not_stop_reads_at_one(lab):
    image = os.urandom(2 * 1024 * 1024)
    lab.files.put(image, name="freeze.img")
    lab.fail("node2", "freeze")
    wait_in_rotation(lab, survivors(lab))
    for _ in range(3):
        r = fetch(lab, "freeze.img", "ONE")
        assert r.status_code == 200 and sha(r.content) == sha(image)
    stored = lab.files.put(os.urandom(100_000), name="freeze-write.img", consistency="ONE")
    assert stored["size"] == 100_000


def test_killed_cassandra_restarts_under_its_supervisor_and_catches_up(lab):
    lab.fail("node2/cassandra")
    data = os.urandom(600_000)
    stored = lab.files.put(data, name="service-kill.img")
    assert stored["sha256"] == sha(data)
    ring.wait_converged(lab.layout)
    assert lab.files.read_on("service-kill.img", "node2", "ONE")["ok"]
