"""A local node is the process tree under its supervisord: faults act on that whole tree."""

from __future__ import annotations

import contextlib
import signal

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
    """SIGKILL a node: the supervisor first (so it restarts nothing), then all it ran."""
    procs = tree(pid)
    signal_all(procs[:1], signal.SIGSTOP)  # hold the supervisor while we collect its children
    procs = tree(pid)
    signal_all(procs, signal.SIGKILL)
    psutil.wait_procs(procs, timeout=5)
    return len(procs)


def freeze_tree(pid: int) -> int:
    procs = tree(pid)
    signal_all(procs, signal.SIGSTOP)
    return len(procs)


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
