"""`Cluster.attach()` while a `labkit up` is still starting the lab (Binder's first minute):
it waits, shows what is ready, and fails only when the start ended without a lab, quoting the
end of the start-up log. Nothing is started here: the "start" is a shell that writes the log."""

from __future__ import annotations

import subprocess

import pytest

from labkit import Cluster, starting
from labkit.errors import LabError
from labkit.layout import rundir_of, up_log, up_pid


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    return tmp_path


def binder_start(script: str) -> subprocess.Popen:
    """What binder/start does: a background shell writing up.log, its pid in up.pid."""
    up_log().write_text("labkit up started 2026-12-03T00:00:00Z\n")
    ended = f'\necho "labkit up exited with 1" >>{up_log()}'
    proc = subprocess.Popen(["bash", "-c", script + ended])
    up_pid().write_text(f"{proc.pid}\n")
    return proc


def test_no_mark_means_no_start_in_progress(home):
    assert not starting.in_progress(rundir_of("x"))


def test_a_stale_mark_is_no_start_in_progress(home):
    dead = subprocess.Popen(["true"])
    dead.wait()
    paths = rundir_of("x")
    paths.root.mkdir()
    paths.starting.write_text(f"{dead.pid}\n")
    up_pid().write_text(f"{dead.pid}\n")
    assert not starting.in_progress(paths)


def test_binder_mark_ends_with_its_logs_last_line_even_if_the_pid_lives_on(home):
    """A pid reused by another process must not keep a learner waiting: the log says it ended."""
    proc = subprocess.Popen(["sleep", "30"])
    try:
        up_log().write_text("labkit up started\nlabkit up exited with 0\n")
        up_pid().write_text(f"{proc.pid}\n")
        assert not starting.in_progress(rundir_of("x"))
        up_log().write_text("labkit up started\n")
        assert starting.in_progress(rundir_of("x"))
    finally:
        proc.kill()
        proc.wait()


def test_the_mark_goes_however_the_start_ends(home):
    paths = rundir_of("x")
    paths.root.mkdir()
    with pytest.raises(RuntimeError), starting.marked(paths):
        assert starting.in_progress(paths)
        raise RuntimeError("start failed")
    assert not paths.starting.exists() and not starting.in_progress(paths)


def test_attach_waits_for_a_start_and_quotes_the_log_when_it_failed(home):
    seen: list[str] = []
    error = "error: port 127.0.1.1:8080 is already in use"
    proc = binder_start(f"sleep 2; echo '{error}' >>{up_log()}")
    try:
        with pytest.raises(LabError) as err:
            Cluster.attach("default", wait=60, progress=seen.append)
    finally:
        proc.wait()
    assert any("preparing its addresses" in s for s in seen), seen  # it waited, and said so
    assert "ended without it" in err.value.hint
    assert "port 127.0.1.1:8080 is already in use" in err.value.hint


def test_attach_without_a_start_fails_at_once_without_waiting(home):
    seen: list[str] = []
    with pytest.raises(LabError) as err:
        Cluster.attach("default", wait=60, progress=seen.append)
    assert seen == [] and "labkit up" in err.value.hint


def test_attach_gives_up_on_a_start_that_takes_too_long(home):
    proc = binder_start("sleep 30")
    try:
        with pytest.raises(LabError, match="still starting after 2s"):
            Cluster.attach("default", wait=2, progress=lambda _m: None)
    finally:
        proc.kill()
        proc.wait()


def test_the_bar_fills_with_what_is_ready():
    assert starting.bar(0, 4, width=4) == "[░░░░]"
    assert starting.bar(2, 4, width=4) == "[██░░]"
    assert starting.bar(4, 4, width=4) == "[████]"
    assert starting.bar(0, 0, width=4) == "[░░░░]"
