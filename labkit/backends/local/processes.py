"""A local node is the process tree under its supervisord: faults act on that whole tree."""

from __future__ import annotations

import contextlib
import signal
import time

import psutil


def tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant (parents first)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def signal_all(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.send_signal(sig)


def kill_tree(pid: int) -> int:
    """SIGKILL a node as a power cut would: nothing of it may act on its way down. Every
    process is stopped first (the supervisor first, so it restarts nothing), and only then
    killed, leaves first. Killed one by one while the rest still ran, a node said goodbye:
    keepalived's VRRP child is sent SIGTERM when its parent dies (PR_SET_PDEATHSIG), and it
    then sends a priority-0 advert, on which the backup takes over in a fraction of its
    master-down interval; lesson 01 measured a gap of 0 s."""
    procs = stop_tree(pid)
    signal_all(procs[::-1], signal.SIGKILL)
    psutil.wait_procs(procs, timeout=5)
    return len(procs)


def stop_tree(pid: int, settle: float = 0.5) -> list[psutil.Process]:
    """SIGSTOP the process and every descendant, again for any forked meanwhile, and wait
    (at most `settle` seconds) until each is stopped: a signal is only sent by kill(2)."""
    stopped: dict[int, psutil.Process] = {}
    while fresh := [p for p in tree(pid) if p.pid not in stopped]:
        signal_all(fresh, signal.SIGSTOP)
        stopped.update((p.pid, p) for p in fresh)
    procs = list(stopped.values())
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and not all(_stopped(p) for p in procs):
        time.sleep(0.005)
    return procs


def _stopped(p: psutil.Process) -> bool:
    try:
        return p.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True


def freeze_tree(pid: int) -> int:
    return len(stop_tree(pid))


def thaw_tree(pid: int) -> int:
    procs = tree(pid)
    signal_all(procs, signal.SIGCONT)
    return len(procs)


def memory(pid: int, kind: str = "rss") -> int:
    """Resident bytes of a process and its descendants: `rss` counts pages shared between
    processes once per process; `pss` shares them out, so summing it over the whole lab counts
    each page once (what a memory limit such as Binder's sees)."""
    total = 0
    for p in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss if kind == "rss" else p.memory_full_info().pss
    return total
