"""The lab's Python daemons are forked from one preloaded process and share its imports' pages;
without the forkserver a node still starts, each daemon then with an interpreter of its own."""

from __future__ import annotations

import pytest

from labkit import forkserver, wait
from labkit.supervisor import LAB_SUPERVISOR

#: copy-on-write pages a forked app server still shares with the process it was forked from; an
#: exec'd interpreter shares no written page with anyone (measured: about 40 MiB against 0)
SHARED_MIB = 10


def shared_dirty_mib(pid: int) -> float:
    """Written pages this process shares with others (its parent's, not yet copied), in MiB."""
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            if line.startswith("Shared_Dirty:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no Shared_Dirty in smaps_rollup")


def app_pid(lab, node: str) -> int:
    return lab.backend.supervisor(node).programs()["app"]["pid"]


@pytest.fixture
def process_lab(lab):
    if lab.layout.backend not in ("local", "netns"):
        pytest.skip("the compose backend's nodes are containers, one supervisord each")
    return lab


def test_the_app_servers_share_the_imports_of_the_forkserver(process_lab):
    for node in ("node3", "node4"):
        pid = app_pid(process_lab, node)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            assert b"labkit.appserver" in fh.read()  # renamed: ps shows what it is
        assert shared_dirty_mib(pid) > SHARED_MIB, node


def test_a_node_starts_without_the_forkserver_and_with_it_again(process_lab):
    lab = process_lab
    rpc = lab.backend.supervisor(LAB_SUPERVISOR).rpc()
    rpc.stopProcess("forkserver")
    try:
        lab.fail("node4", "crash")
        lab.recover("node4")
        assert wait.until(lambda: "app" in lab.backend.supervisor("node4").programs(), 30)
        lab.wait_whole(timeout=120)  # the node serves: started the usual way
        assert shared_dirty_mib(app_pid(lab, "node4")) < SHARED_MIB  # and shares nothing
    finally:
        rpc.startProcess("forkserver")
    assert wait.until(lambda: forkserver.answers(lab.layout.paths.forkserver), 30)
    lab.fail("node4", "crash")
    lab.recover("node4")
    lab.wait_whole(timeout=120)
    assert shared_dirty_mib(app_pid(lab, "node4")) > SHARED_MIB  # forked again
