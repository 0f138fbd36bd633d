"""One running lab for the whole integration suite, restored after every test that breaks it.

Starting a lab is slow (Cassandra alone takes tens of seconds), so the session shares one; the
function-scoped `lab` fixture recovers every broken node afterwards and waits until the lab is
healthy again, so each test starts from a whole cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from labkit import Cluster, wait
from labkit.layout import Layout


def wait_healthy(cluster: Cluster, timeout: float = 120) -> None:
    """Every node up, every service running, the VIP answering, every app server in the round
    robin: `Cluster.wait_whole`, what `labkit reset` waits for."""
    cluster.wait_whole(timeout=timeout)


def wait_in_rotation(cluster: Cluster, nodes: set[str], timeout: float = 30) -> None:
    """Wait until round-robin through the VIP reaches exactly these app nodes."""
    requests = 3 * len(cluster.layout.topology.with_role("app"))
    if not wait.until(lambda: cluster.rotation(requests) == nodes, timeout, every=0.3):
        raise AssertionError(f"rotation is {cluster.rotation(requests)}, expected {nodes}")


@contextlib.contextmanager
def running_lab(lab: str, healthy: Callable[[Cluster], None] = wait_healthy,
                **up: Any) -> Iterator[Cluster]:
    """A lab started for a test session or module, taken down after it (and after a failed
    start, so nothing keeps running behind it)."""
    try:
        cluster = Cluster.up(lab=lab, timeout=300, **up)
        healthy(cluster)
    except BaseException:
        with contextlib.suppress(Exception):
            Cluster(Layout.load(lab)).down()
        raise
    try:
        yield cluster
    finally:
        if cluster.backend.is_running():  # a test may have taken it down itself
            cluster.down()


@pytest.fixture(scope="session")
def lab_session():
    with running_lab("pytest") as cluster:
        yield cluster


@pytest.fixture
def lab(lab_session: Cluster):
    """The shared lab, whole before the test and restored after it."""
    wait_healthy(lab_session)
    yield lab_session
    lab_session.recover_all()
    wait_healthy(lab_session)
    wait_in_rotation(lab_session, {n.name for n in lab_session.layout.topology.with_role("app")})


def login_body(lab, user: str = "learner") -> dict:
    """What POST /api/login takes: the lab's own user and password."""
    name, password = lab.auth(user)
    return {"user": name, "password": password}
