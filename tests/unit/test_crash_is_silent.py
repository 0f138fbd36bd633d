"""A crash is a power cut: no process of the node may act on its way down. keepalived's VRRP
child is sent SIGTERM when its parent dies (PR_SET_PDEATHSIG) and answers with a priority-0
advert, so a node killed one process at a time said goodbye, and its backup took over at once
instead of after its master-down interval. Here a child that writes a goodbye on SIGTERM when
its parent dies sits last in a tree of 40 processes: killing the tree must not let it write,
and when the first SIGKILL goes out every process of the tree is already stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from labkit.backends.local import processes

GOODBYE = textwrap.dedent("""
    import ctypes, signal, sys, time
    from pathlib import Path
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG, as keepalived's child does
    signal.signal(signal.SIGTERM, lambda *_: (Path(sys.argv[1]).write_text("goodbye"),
                                             sys.exit(0)))
    Path(sys.argv[1] + ".ready").write_text("")
    while True:
        time.sleep(1)
""")

PARENT = textwrap.dedent("""
    import subprocess, sys, time
    for _ in range(40):
        subprocess.Popen(["sleep", "120"])
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    time.sleep(120)
""")


def test_a_crashed_tree_dies_without_any_process_acting_on_it(tmp_path: Path, monkeypatch):
    running_at_first_kill: list[list[int]] = []
    send = processes.signal_all

    def watched(procs: list[psutil.Process], sig: int) -> None:
        if sig == signal.SIGKILL and not running_at_first_kill:
            running_at_first_kill.append([p.pid for p in processes.tree(parent.pid)
                                          if p.status() != psutil.STATUS_STOPPED])
        send(procs, sig)
    monkeypatch.setattr(processes, "signal_all", watched)
    said = tmp_path / "said"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, GOODBYE, str(said)])
    try:
        deadline = time.monotonic() + 20
        while not Path(f"{said}.ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"{said}.ready").exists(), "the goodbye child started"
        procs = processes.tree(parent.pid)
        assert len(procs) == 42

        assert processes.kill_tree(parent.pid) == 42
        parent.wait(5)
        time.sleep(0.3)  # a goodbye, had one been started, would be written by now
        assert running_at_first_kill == [[]], "every process stopped before the first died"
        assert not said.exists(), "a process acted on the node's death: a goodbye, not a crash"
        assert not [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        for p in processes.tree(parent.pid):
            p.kill()
