"""`labkit down --purge` deletes a lab's run directory only (Cluster.purgeable).

The guard resolves the lab's folder and LABKIT_HOME and accepts the folder only when it sits
directly inside LABKIT_HOME: a lab folder that is a symlink to a learner's home directory, to
LABKIT_HOME itself (every lab) or anywhere else is refused, before anything stops.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from labkit import Cluster
from labkit.errors import LabError
from labkit.layout import Layout


def lab_folder_leading_to(layout: Layout, target: Path) -> Cluster:
    """Make the lab's folder a symlink to `target` (which gets the lab's layout.json, so the
    lab still loads) and return the cluster loaded through it."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(layout.paths.layout, target / "layout.json")
    shutil.rmtree(layout.rundir)
    layout.rundir.symlink_to(target, target_is_directory=True)
    return Cluster(Layout.load(layout.lab))


def test_a_lab_folder_in_labkit_home_may_be_purged(saved_layout):
    assert Cluster(Layout.load("unit")).purgeable() == saved_layout.rundir.resolve()


def test_a_labkit_home_reached_through_a_symlink_still_holds_its_labs(
        saved_layout, tmp_path, tmp_path_factory, monkeypatch):
    link = tmp_path_factory.mktemp("link") / "labkit-home"
    link.symlink_to(tmp_path, target_is_directory=True)
    monkeypatch.setenv("LABKIT_HOME", str(link))
    assert Cluster(Layout.load("unit")).purgeable() == saved_layout.rundir.resolve()


@pytest.mark.parametrize("where", ["a home directory", "LABKIT_HOME itself",
                                   "a folder outside LABKIT_HOME",
                                   "a folder deeper inside LABKIT_HOME"])
def test_a_lab_folder_leading_elsewhere_is_refused(saved_layout, tmp_path, tmp_path_factory,
                                                   where):
    outside = tmp_path_factory.mktemp("outside")
    target = {"a home directory": outside / "home" / "learner",
              "LABKIT_HOME itself": tmp_path,
              "a folder outside LABKIT_HOME": outside / "data",
              "a folder deeper inside LABKIT_HOME": tmp_path / "other" / "unit"}[where]
    cluster = lab_folder_leading_to(saved_layout, target)
    with pytest.raises(LabError, match="refusing to delete"):
        cluster.purgeable()


def test_a_refused_purge_stops_nothing_and_deletes_nothing(saved_layout, tmp_path_factory,
                                                            monkeypatch):
    learner = tmp_path_factory.mktemp("home") / "learner"
    cluster = lab_folder_leading_to(saved_layout, learner)
    (learner / "notes.txt").write_text("mine")
    stopped: list[bool] = []
    monkeypatch.setattr(cluster.backend, "down", lambda *_a, **_k: stopped.append(True))
    with pytest.raises(LabError, match="refusing to delete"):
        cluster.down(purge=True)
    assert not stopped
    assert (learner / "notes.txt").read_text() == "mine"
