"""Shared test set-up: every lab the suite starts lives in one throwaway LABKIT_HOME."""

import os
import tempfile

import pytest

# Set before anything reads it: the supervisors and daemons of test labs inherit it.
_HOME = tempfile.mkdtemp(prefix="lkt-")
os.chmod(_HOME, 0o755)  # servers that refuse root (PostgreSQL) run as their own user
os.environ["LABKIT_HOME"] = _HOME
os.environ.setdefault("LABKIT_LAB", "pytest")


@pytest.fixture(scope="session")
def labkit_home() -> str:
    return _HOME


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ANN001, ARG001
    """Every lab of the session is down by now (their fixtures tore them down): delete their
    throwaway home, or each run would leave gigabytes of databases and logs in /tmp (a CI run
    on a full disk found this). Last: a session stopped early (`-x`) tears its fixtures down
    in pytest's own sessionfinish, and a home deleted before that left a lab running."""
    import shutil

    shutil.rmtree(_HOME, ignore_errors=True)
