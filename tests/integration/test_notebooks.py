"""Every lesson runs top to bottom on a fresh kernel against the shared lab (nbval, lax mode:
the cells must run without error and each lesson's "check yourself" cell asserts what the
learner should have seen). A lesson that breaks fails the suite."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import Cluster
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import DevicesSpec, MysqlSpec, NodeSpec, Topology
from tests.integration.conftest import running_lab

ROOT = Path(__file__).resolve().parents[2]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

pytestmark = pytest.mark.lab


def test_there_are_lessons():
    assert [p.name[:2] for p in LESSONS][:4] == ["00", "01", "02", "03"]


def run_lesson(lab, lesson: Path, tmp_path: Path, timeout: float = 600) -> None:
    """Run one lesson under nbval on a fresh kernel attached to `lab` (any backend)."""
    env = {**os.environ, "LABKIT_HOME": str(lab.layout.rundir.parent),
           "LABKIT_LAB": lab.layout.lab, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), str(lesson)],
        cwd=ROOT / "notebooks", env=env, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"{lesson.name} failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_green(lab, lesson: Path, tmp_path):
    try:
        run_lesson(lab, lesson, tmp_path)
    finally:
        down_own_lab(lab, lesson)


def down_own_lab(lab, lesson: Path) -> None:
    """Lesson 13 starts a small lab of its own (`<lab>-tune`) and takes it down in its last
    cells and when its kernel exits; a lesson that failed halfway, or a kernel that was killed,
    may not have: no lab may outlive its test."""
    if not lesson.stem.startswith("13_"):
        return
    name = f"{lab.layout.lab}-tune"
    with contextlib.suppress(LabError):
        Cluster(Layout.load(name)).down(purge=True)  # LabError: it is gone already


UNSAFE = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("mysql",)),
                         NodeSpec("node3", ("mysql",))),
                  mysql=MysqlSpec(semi_sync=False), devices=DevicesSpec(count=0))


def test_lesson_11_loses_acknowledged_writes_on_a_lab_started_unsafe(tmp_path):
    """The shared lab is safe, so there lesson 11 shows zero lost and says why; this small lab
    runs MySQL with semi-sync off, and the lesson's lab-check cell then asserts that the
    standby took over and that acknowledged rows were lost, counted by number."""
    with running_lab("pytest-unsafe", topology=UNSAFE) as unsafe:
        run_lesson(unsafe, ROOT / "notebooks" / "11_lose_writes.ipynb", tmp_path)
        assert any(e["kind"] == "mysql_failover" for e in unsafe.events())
