"""The forkserver: a node's supervisord and its Python programs are forked, not exec'd, so they
share the memory of the imports; anything else is refused and started the usual way."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from labkit import forkserver, wait
from labkit.supervisor import Program, Supervisor

#: a program that says whether it runs in a process forked from the forkserver (the preloaded
#: labkit.forkserver module is already there, and marked) or in an interpreter of its own
PROBE = """
import json, os, sys, time
fs = sys.modules.get("labkit.forkserver")
with open(sys.argv[1] + ".tmp", "w") as fh:
    json.dump({"preloaded": bool(fs and fs.PRELOADED), "pid": os.getpid(), "ppid": os.getppid(),
               "argv": sys.argv[1:], "env": os.environ.get("SUPERVISOR_PROCESS_NAME"),
               "cmdline": open("/proc/self/cmdline", "rb").read().decode()}, fh)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(60)
"""

#: the forkserver as the lab runs it, with the probe's folder on the path and its name let in
SERVER = """
import sys
sys.path.insert(0, {probe_dir!r})
from pathlib import Path
from labkit import forkserver
forkserver.IN_PLACE = ("labkit.", "fs_probe")
forkserver.preload()
forkserver.serve(Path({sock!r}), Path({rundir!r}))
"""


@pytest.fixture
def server(tmp_path: Path):
    rundir = tmp_path / "lab"
    rundir.mkdir()
    (tmp_path / "fs_probe.py").write_text(PROBE)
    sock = rundir / "forkserver.sock"
    code = textwrap.dedent(SERVER).format(probe_dir=str(tmp_path), sock=str(sock),
                                          rundir=str(rundir))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    try:
        assert wait.until(lambda: forkserver.answers(sock), 60, every=0.1), "no answer"
        yield rundir, sock
    finally:
        proc.kill()
        proc.wait()


def test_a_forkserver_that_could_not_preload_says_so_and_forks_nothing(tmp_path):
    """Its imports started a thread (or it never preloaded): it answers no at once, so `up`
    does not wait for it, and a node's supervisord is then started as a program of its own."""
    rundir = tmp_path / "lab"
    rundir.mkdir()
    sock = rundir / "forkserver.sock"
    code = (f"from pathlib import Path\nfrom labkit import forkserver\n"
            f"forkserver.serve(Path({str(sock)!r}), Path({str(rundir)!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL)
    try:
        assert wait.until(lambda: forkserver.state(sock) is not None, 60, every=0.1)
        assert forkserver.state(sock) is False and not forkserver.answers(sock)
        out = tmp_path / "seen.json"
        sup = Supervisor("node1", rundir / "node1", rundir / "node1" / "log", forkserver=sock)
        sup.write_config([Program("probe", [sys.executable, "-c", "import time; "
                                            "time.sleep(60)"])])
        argv = [sys.executable, "-m", "supervisor.supervisord", "-c", str(sup.conf)]
        assert forkserver.spawn(sock, argv, [], out, {}) is None
    finally:
        proc.kill()
        proc.wait()
    assert forkserver.state(sock) is None  # nobody answers: not a no


def node_supervisor(rundir: Path, sock: Path, out: Path) -> Supervisor:
    sup = Supervisor("node1", rundir / "node1", rundir / "node1" / "log", forkserver=sock)
    sup.write_config([Program("probe", [sys.executable, "-m", "fs_probe", str(out)])])
    return sup


def test_a_supervisord_and_its_python_program_are_forked_not_execd(server, tmp_path):
    rundir, sock = server
    out = tmp_path / "probe.json"
    sup = node_supervisor(rundir, sock, out)
    pid = sup.start()
    try:
        assert wait.until(out.exists, 30, every=0.1), "the program never ran"
        seen = json.loads(out.read_text())
        assert seen["preloaded"] is True  # an exec'd interpreter would not have the mark
        assert seen["ppid"] == pid  # supervisord's own child: its signals and restarts reach it
        assert seen["argv"] == [str(out)]
        assert seen["env"] == "probe"  # the environment supervisord gave it
        assert "-m fs_probe" in seen["cmdline"]  # ps shows the program, not the forkserver
        assert sup.pid() == pid  # the pid check reads "supervisord" in the renamed command
        assert psutil.Process(pid).ppid() != psutil.Process().pid  # detached from the caller
        assert psutil.Process(pid).ppid() not in {p.pid for p in psutil.Process().children()}
    finally:
        sup.stop()
    assert not psutil.pid_exists(seen["pid"]) or \
        psutil.Process(seen["pid"]).status() == psutil.STATUS_ZOMBIE


def test_without_a_forkserver_the_program_gets_an_interpreter_of_its_own(tmp_path):
    rundir = tmp_path / "lab"
    rundir.mkdir()
    (tmp_path / "fs_probe.py").write_text(PROBE)
    out = tmp_path / "probe.json"
    sup = node_supervisor(rundir, rundir / "forkserver.sock", out)  # nobody listens there
    sup.write_config([Program("probe", [sys.executable, "-m", "fs_probe", str(out)],
                              environment={"PYTHONPATH": str(tmp_path)})])
    sup.start()
    try:
        assert wait.until(out.exists, 30, every=0.1), "the program never ran"
        assert json.loads(out.read_text())["preloaded"] is False
    finally:
        sup.stop()


@pytest.mark.parametrize("argv, why", [
    (["/bin/sh", "-c", "id"], "only a supervisord"),
    ([sys.executable, "-m", "supervisor.supervisord", "-c", "/etc/passwd"], "not a config"),
    ([sys.executable, "-m", "supervisor.supervisord", "-c", "{rundir}/../x.conf"],
     "not a config"),
    ([sys.executable, "-m", "fs_probe", "-c", "{rundir}/s.conf"], "only a supervisord"),
])
def test_anything_but_a_supervisord_of_the_lab_is_refused(server, argv, why):
    rundir, sock = server
    argv = [a.format(rundir=rundir) for a in argv]
    before = {p.pid for p in psutil.process_iter()}
    assert forkserver.spawn(sock, argv, [], rundir / "out.log", {}) is None
    assert why in forkserver.refusal({"argv": argv, "netns": None, "log": "x", "env": {}},
                                     rundir)
    new = {p.pid for p in psutil.process_iter()} - before
    assert not [p for p in new if psutil.pid_exists(p) and "fs_probe" in
                " ".join(psutil.Process(p).cmdline())]


def test_a_proper_request_is_not_refused(tmp_path):
    argv = [sys.executable, "-m", "supervisor.supervisord", "-c", str(tmp_path / "n" / "s.conf")]
    assert forkserver.refusal({"argv": argv, "netns": "lk-1-node1", "log": "x", "env": {}},
                              tmp_path) is None
    assert "namespace" in forkserver.refusal(
        {"argv": argv, "netns": "../../proc/1/ns/net", "log": "x", "env": {}}, tmp_path)


def test_which_commands_run_in_place():
    py = sys.executable
    assert forkserver._in_place(py, [py, "-m", "labkit.appserver", "--lab", "x"]) == (
        None, [py, "-m", "labkit.appserver", "--lab", "x"])
    assert forkserver._in_place("/usr/sbin/ip", ["ip", "netns", "exec", "lk-1-sw", py, "-m",
                                                 "labkit.backends.netns.delayer"]) == (
        "lk-1-sw", [py, "-m", "labkit.backends.netns.delayer"])
    assert forkserver._in_place(py, [py, "-m", "supervisor.supervisord"]) == (None, None)
    assert forkserver._in_place("/usr/sbin/mariadbd", ["mariadbd"]) == (None, None)
    assert forkserver._in_place("/usr/bin/python3", ["/usr/bin/python3", "-m", "labkit.x"]) \
        == (None, None)  # another interpreter: its own imports, nothing to share


def test_only_ip_netns_exec_is_stood_in_for():
    assert forkserver.namespace_of([]) is None
    assert forkserver.namespace_of(["ip", "netns", "exec", "lk-1-node1"]) == "lk-1-node1"
    assert forkserver.namespace_of(["nsenter", "-t", "1", "-n"]) is False
