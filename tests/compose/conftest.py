"""One compose lab (containers on a Docker bridge, keepalived VRRP) for every test in this folder.

Started once per session through `labkit up --backend compose`'s own code path; the
function-scoped `lab` fixture recovers whatever a test broke and waits until the lab is whole,
exactly like the local suite's fixture (tests/integration/conftest.py), whose waits it reuses,
and heals any link fault a test left. The test that takes the lab down and checks nothing of it
remains (in test_compose_lab.py) runs last, after every file of this folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import Cluster
from tests.integration.conftest import running_lab, wait_healthy, wait_in_rotation

LAB = "pytest-compose"
LAST = "test_down_removes_every_container_and_network_it_made"


def pytest_collection_modifyitems(items):
    """The test that takes the shared lab down runs after every other one of this folder, and
    before anything outside it: the hook sees the whole session's items, and a compose lab left
    up through the rest of the suite slows it and shows in other labs' orphan checks."""
    here = Path(__file__).parent
    last = [item for item in items if item.name == LAST]
    if not last:
        return
    for item in last:
        items.remove(item)
    ours = [k for k, item in enumerate(items) if Path(item.path).parent == here]
    at = ours[-1] + 1 if ours else len(items)
    items[at:at] = last


@pytest.fixture(scope="session")
def compose_session():
    with running_lab(LAB, lambda c: wait_healthy(c, timeout=180), backend="compose") as cluster:
        yield cluster


@pytest.fixture
def lab(compose_session: Cluster):
    """The shared compose lab, whole before the test and restored after it."""
    wait_healthy(compose_session, timeout=180)
    yield compose_session
    compose_session.heal()
    compose_session.recover_all()
    wait_healthy(compose_session, timeout=180)
    wait_in_rotation(compose_session,
                     {n.name for n in compose_session.layout.topology.with_role("app")})
