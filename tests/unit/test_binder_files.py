"""binder/ is only read by repo2docker, far from the test suite: these checks catch the mistakes
that would otherwise surface as a broken Binder session (a server missing from apt.txt, a hook
that is not executable, a small topology that no longer loads)."""

from __future__ import annotations

import os
from pathlib import Path

from labkit.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
#: system packages the lab needs on a machine but not on Binder: repo2docker brings its own
#: Python environment, a non-root Binder user cannot use nftables (isolate falls back) nor the
#: netns backend (keepalived), and the
#: browser is only for the test suite (Ubuntu 22.04's chromium-browser is a snap stub anyway).
NOT_ON_BINDER = {"python3-venv", "nftables", "keepalived", "iptables", "chromium"}


def _packages(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {line.split("|")[0] for line in lines if line}


def test_apt_txt_has_every_server_the_lab_installs_elsewhere() -> None:
    needed = _packages(ROOT / "system-packages.txt") - NOT_ON_BINDER
    missing = needed - _packages(BINDER / "apt.txt")
    assert not missing, f"binder/apt.txt lacks {sorted(missing)} (listed in system-packages.txt)"


def test_binder_hooks_are_executable() -> None:
    for hook in ("postBuild", "start"):
        assert os.access(BINDER / hook, os.X_OK), f"binder/{hook} must be executable"


def test_start_hands_over_to_the_notebook_server() -> None:
    assert 'exec "$@"' in (BINDER / "start").read_text()


def test_small_topology_loads_and_keeps_the_pairs() -> None:
    topo = Topology.load(BINDER / "small.yml")
    for role in ("lb", "mysql", "postgres"):
        assert len(topo.with_role(role)) == 2, role
    assert {n.name for n in topo.nodes} == {n.name for n in Topology.default().nodes}
