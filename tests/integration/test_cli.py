"""The `labkit` command against real labs: bad input gets one clear error and changes nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import psutil
import pytest

from labkit import Cluster
from labkit.backends.local import network
from labkit.supervisor import LAB_SUPERVISOR


def labkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True,
                          text=True, timeout=300)


def test_status_json(lab):
    res = labkit("status", "--json", "--lab", lab.layout.lab)
    assert res.returncode == 0, res.stderr
    st = json.loads(res.stdout)
    assert st["backend"] == lab.layout.backend
    assert st["vip"]["owner"] in {"node1", "node2"}
    assert [n["name"] for n in st["nodes"]] == ["node1", "node2", "node3", "node4"]


@pytest.mark.parametrize("args, words", [
    (["fail", "node9"], "unknown node 'node9'"),
    (["fail", "node1", "--mode", "explode"], "unknown fault mode"),
    (["fail", "node1/nginx"], "runs no service 'nginx'"),
    (["recover", "node2"], "nothing to recover"),
    (["up", "--topology", "/nonexistent.yml"], "does not exist"),
    (["up", "--nodes", "3"], "running with another topology"),
])
def test_bad_input_is_refused_and_changes_nothing(lab, args, words):
    before = {n["name"]: (n["state"], n["services"]) for n in lab.status()["nodes"]}
    res = labkit(*args, "--lab", lab.layout.lab)
    assert res.returncode == 2, res.stdout + res.stderr
    assert words in res.stderr
    assert "Traceback" not in res.stderr
    after = {n["name"]: (n["state"], n["services"]) for n in lab.status()["nodes"]}
    assert after == before


def test_failing_a_failed_node_is_refused(lab):
    lab.fail("node4", "crash")
    res = labkit("fail", "node4", "--lab", lab.layout.lab)
    assert res.returncode == 2 and "already crashed" in res.stderr
    res = labkit("fail", "node4/app", "--lab", lab.layout.lab)
    assert res.returncode == 2 and "recover node4" in res.stderr


def _all_up(lab) -> bool:
    return all(n["state"] == "up" and set(n["services"].values()) == {"running"}
               for n in lab.status()["nodes"])


def test_up_on_a_broken_lab_makes_it_whole(lab):
    """`make lab` on a lab with both LB nodes down used to wait for a VIP that could not
    answer: `up` recovers every crashed, frozen or isolated node before it waits."""
    lab.fail("node1", "crash")
    lab.fail("node2", "freeze")
    lab.fail("node3", "isolate")
    res = labkit("up", "--lab", lab.layout.lab)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _all_up(lab), lab.status()["nodes"]
    for node, was in (("node1", "crashed"), ("node2", "frozen"), ("node3", "isolated")):
        assert f"recovering {node} (it was {was})" in res.stderr  # rich's console


def test_reset_recovers_every_node_and_waits_for_the_round_robin(lab):
    lab.fail("node4", "crash")
    lab.fail("node3", "freeze")
    res = labkit("reset", "--lab", lab.layout.lab)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "node3, node4 recovered" in res.stderr  # rich's console: the lab's node order
    assert _all_up(lab)
    assert lab.rotation(12) == {"node1", "node2", "node3", "node4"}


def test_reset_of_a_lab_that_is_not_running_is_refused():
    res = labkit("reset", "--lab", "never-started")
    assert res.returncode == 2 and "labkit up" in res.stderr


def test_up_down_leaves_nothing_and_refuses_taken_ports():
    """A second, small lab: `down` leaves no process or port; `up` on a taken port fails (on
    loopback, where a port of the lab's addresses can be taken by anyone on this machine)."""
    try:
        res = labkit("up", "--nodes", "2", "--backend", "local", "--lab", "small")
        assert res.returncode == 0, res.stderr
        small = Cluster.attach("small")
        prefix = small.layout.prefix
        assert prefix != Cluster.attach("pytest").layout.prefix  # its own /24
        sup_pids = [small.backend.supervisor(n).pid() for n in ("node1", "node2", LAB_SUPERVISOR)]
        pids = {p.pid for pid in sup_pids for p in psutil.Process(pid).children(recursive=True)}
        pids |= set(sup_pids)
        assert prefix in network.listening_prefixes()

        res = labkit("down", "--lab", "small")
        assert res.returncode == 0, res.stderr
        assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                       for p in pids)
        assert prefix not in network.listening_prefixes()
        assert not small.backend.is_running()

        with socket.socket() as blocker:  # someone else takes the app server's port
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            blocker.bind((f"{prefix}.11", small.layout.ports.app))
            blocker.listen()
            res = labkit("up", "--lab", "small")
        assert res.returncode == 2
        assert "already in use" in res.stderr
        assert f"{prefix}.11:{small.layout.ports.app}" in res.stderr
        assert not small.backend.is_running()
    finally:  # a failed assertion must not leave the small lab running
        labkit("down", "--lab", "small", "--purge")


def test_attach_without_a_lab_says_how_to_start_one():
    from labkit.errors import LabError

    with pytest.raises(LabError, match="labkit up"):
        Cluster.attach("never-started")
