"""labkit.cgroups on folders of plain files shaped like each hierarchy (v1 and v2).

The real kernel is exercised by tests/classroom (a learner's share, an OOM kill); here the
reading and the message are checked against hand-made counts, wrong cases included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import cgroups


def v1(tmp_path: Path, limit: int, quota: int, oom_kills: int) -> Path:
    mem, cpu = tmp_path / "memory" / "labkit-classroom" / "ann", tmp_path / "cpu" / \
        "labkit-classroom" / "ann"
    for d in (mem, cpu, tmp_path / "memory"):
        d.mkdir(parents=True, exist_ok=True)
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(str(cgroups.NO_LIMIT))
    (mem / "memory.limit_in_bytes").write_text(str(limit))
    (mem / "memory.usage_in_bytes").write_text(str(100 << 20))
    (mem / "memory.oom_control").write_text(
        f"oom_kill_disable 0\nunder_oom 0\noom_kill {oom_kills}\n")
    (cpu / "cpu.cfs_quota_us").write_text(str(quota))
    (cpu / "cpu.cfs_period_us").write_text("100000")
    return tmp_path


V1_PATHS = {"memory": "/labkit-classroom/ann", "cpu": "/labkit-classroom/ann"}


def test_v1_limits_and_no_kills(tmp_path):
    root = v1(tmp_path, 1536 << 20, 50000, 0)
    got = cgroups.usage_of(root=root, paths=V1_PATHS)
    assert got["memory_limit"] == 1536 << 20 and got["cpus"] == 0.5 and got["oom_kills"] == 0
    assert "LIMIT REACHED" not in got["message"] and "1536 MiB, 0.5 CPU" in got["message"]


def test_v1_an_oom_kill_is_said_loudly(tmp_path):
    root = v1(tmp_path, 1 << 30, -1, 2)
    got = cgroups.usage_of(root=root, paths=V1_PATHS)
    assert got["oom_kills"] == 2 and got["cpus"] is None
    assert got["message"].startswith("MEMORY LIMIT REACHED: the kernel killed 2 processes")


def test_no_limit_is_no_section(tmp_path):
    root = v1(tmp_path, cgroups.NO_LIMIT, -1, 0)
    assert cgroups.usage_of(root=root, paths=V1_PATHS) is None
    # a kill in a group with no limit of its own (the machine's, a sandbox's) may be anyone's:
    # it is not pinned on the lab
    root = v1(tmp_path, cgroups.NO_LIMIT, -1, 1)
    assert cgroups.usage_of(root=root, paths=V1_PATHS) is None


def test_v2(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    g = tmp_path / "labkit-classroom" / "bob"
    g.mkdir(parents=True)
    (g / "memory.max").write_text(str(2 << 30))
    (g / "memory.current").write_text(str(300 << 20))
    (g / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    (g / "cpu.max").write_text("100000 100000")
    got = cgroups.usage_of(root=tmp_path, paths={"": "/labkit-classroom/bob"})
    assert cgroups.version(tmp_path) == 2
    assert (got["memory_limit"], got["cpus"], got["oom_kills"]) == (2 << 30, 1.0, 1)
    (g / "memory.max").write_text("max")
    (g / "cpu.max").write_text("max 100000")
    (g / "memory.events").write_text("oom_kill 0\n")
    assert cgroups.usage_of(root=tmp_path, paths={"": "/labkit-classroom/bob"}) is None


def test_create_v1_writes_the_limits(tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("0")
    dirs = cgroups.create("ann", 3 << 30, 1.5, root=tmp_path)
    assert (dirs[0] / "memory.limit_in_bytes").read_text() == str(3 << 30)
    assert (dirs[1] / "cpu.cfs_quota_us").read_text() == "150000"
    assert cgroups.group_dirs("ann", tmp_path) == dirs


@pytest.mark.parametrize(("text", "size"), [("3G", 3 << 30), ("1536M", 1536 << 20),
                                            ("1610612736", 1610612736), ("2GiB", 2 << 30)])
def test_parse_size(text, size):
    assert cgroups.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "3X", "-1G"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError):
        cgroups.parse_size(text)


def test_remove_waits_for_an_empty_group_and_says_when_it_is_not(tmp_path):
    busy, empty = tmp_path / "busy", tmp_path / "empty"
    busy.mkdir()
    empty.mkdir()
    (busy / "cgroup.procs").write_text("1\n")  # a plain folder with a file: rmdir refuses
    assert cgroups.remove([busy], wait=0.2) is False and busy.exists()
    assert cgroups.remove([empty, tmp_path / "gone"]) is True and not empty.exists()
