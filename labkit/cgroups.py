"""A learner's share of the machine: a control group with a memory and a CPU limit.

On a classroom server (`classroom/`) the hub puts each learner's notebook server, and so the lab
it starts, in a control group of their own, so one learner's chaos run cannot starve the class.
When a lab passes its memory limit the kernel's OOM killer ends one of its processes: a node
then simply looks crashed. `usage_of` reads the kernel's own count of those kills
(`oom_kill` in `memory.events` on cgroup v2, in `memory.oom_control` on v1), so `labkit status`
can say why instead of leaving a silent kill.

Both hierarchies are handled: cgroup v2 (`memory.max`, `cpu.max`, one tree) where
/sys/fs/cgroup is the unified mount, v1 (`memory.limit_in_bytes`, `cpu.cfs_quota_us`, one tree
per controller) where it is a tmpfs of v1 controllers, as on this project's CI machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

#: where the hierarchies are mounted (a test points it at a folder of plain files)
ROOT = Path(os.environ.get("LABKIT_CGROUP_ROOT", "/sys/fs/cgroup"))
#: the classroom's learners' groups live under this one
PARENT = "labkit-classroom"
CPU_PERIOD_US = 100_000
#: v1 reports "no limit" as a huge page-aligned number
NO_LIMIT = 1 << 60


def version(root: Path | None = None) -> int | None:
    """2 on a unified hierarchy with the memory controller, 1 on v1 controllers, else None."""
    root = root or ROOT
    with contextlib.suppress(OSError):
        if "memory" in (root / "cgroup.controllers").read_text().split():
            return 2
    if (root / "memory" / "memory.limit_in_bytes").exists():
        return 1
    return None


def parse_size(text: str) -> int:
    """Bytes from `1536M`, `2G`, `800000K` or a plain number (memory.max's own units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", text, re.I)
    if not m:
        raise ValueError(f"{text!r} is not a size (e.g. 2G, 1536M)")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def group_dirs(name: str, root: Path | None = None) -> list[Path]:
    """The directories of the group `labkit-classroom/<name>`: one on v2, memory and cpu on v1."""
    root = root or ROOT
    if version(root) == 2:
        return [root / PARENT / name]
    return [root / "memory" / PARENT / name, root / "cpu" / PARENT / name]


def create(name: str, memory: int, cpus: float, root: Path | None = None) -> list[Path]:
    """Make (or re-limit) the group `name` with `memory` bytes and `cpus` CPUs; its dirs."""
    root = root or ROOT
    dirs = group_dirs(name, root)
    if version(root) == 2:
        parent = root / PARENT
        parent.mkdir(exist_ok=True)
        # the controllers must be handed down at every level above the learner's group
        for level in (root, parent):
            (level / "cgroup.subtree_control").write_text("+memory +cpu")
        dirs[0].mkdir(exist_ok=True)
        (dirs[0] / "memory.max").write_text(str(memory))
        with contextlib.suppress(FileNotFoundError):  # no swap accounting: nothing to cap
            (dirs[0] / "memory.swap.max").write_text("0")
        (dirs[0] / "cpu.max").write_text(f"{int(cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        return dirs
    mem, cpu = dirs
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    memsw = mem / "memory.memsw.limit_in_bytes"  # memory+swap: where swap accounting is on
    if memsw.exists():  # never below the memory limit: lift it first, then set both
        memsw.write_text("-1")
    (mem / "memory.limit_in_bytes").write_text(str(memory))
    if memsw.exists():
        memsw.write_text(str(memory))
    (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * CPU_PERIOD_US)))
    return dirs


def join(dirs: list[Path], pid: int = 0) -> None:
    """Move process `pid` (0: the caller) into the group; its children are born in it."""
    for d in dirs:
        (d / "cgroup.procs").write_text(str(pid or os.getpid()))


def members(dirs: list[Path]) -> set[int]:
    found: set[int] = set()
    for d in dirs:
        with contextlib.suppress(FileNotFoundError):
            found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
    return found


def kill_all(dirs: list[Path]) -> int:
    """SIGKILL every process left in the group (what outlived the lab's own `down`)."""
    left = members(dirs)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def remove(dirs: list[Path], wait: float = 5.0) -> bool:
    """Remove the group once it is empty: the kernel refuses (EBUSY) while a process, even one
    just killed and not yet gone, is in it. False when it was still busy after `wait` s."""
    deadline = time.monotonic() + wait
    for d in dirs:
        while True:
            try:
                d.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
    return True


# -- reading a process's limits ----------------------------------------------------------------


def _own_paths(pid: int | str) -> dict[str, str]:
    """controller (or "" for v2) → the group path of process `pid`, from /proc/<pid>/cgroup."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                out[c] = path
    return out


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text().strip()
    return None


def _count(text: str | None, key: str) -> int:
    """The value of `key` in a `key value` per line file (memory.events, memory.oom_control)."""
    for line in (text or "").splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


def usage_of(pid: int | str = "self", root: Path | None = None,
             paths: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The memory/CPU limits of process `pid`'s group, its memory in use and the OOM kills in
    it; None when the group sets no limit (a lab on a personal machine, in a CI sandbox)."""
    root = root or ROOT
    paths = _own_paths(pid) if paths is None else paths
    if version(root) == 2:
        group = root / paths.get("", "/").lstrip("/")
        limit = _read(group / "memory.max")
        quota = (_read(group / "cpu.max") or "max").split()
        used, events = _read(group / "memory.current"), _read(group / "memory.events")
        out = {"cgroup": paths.get("", "/"),
               "memory_limit": None if limit in (None, "max") else int(limit),
               "cpus": None if quota[0] == "max" else int(quota[0]) / int(quota[1])}
    else:
        mem = root / "memory" / paths.get("memory", "/").lstrip("/")
        cpu = root / "cpu" / paths.get("cpu", "/").lstrip("/")
        limit, quota = _read(mem / "memory.limit_in_bytes"), _read(cpu / "cpu.cfs_quota_us")
        period = _read(cpu / "cpu.cfs_period_us") or str(CPU_PERIOD_US)
        used, events = _read(mem / "memory.usage_in_bytes"), _read(mem / "memory.oom_control")
        out = {"cgroup": paths.get("memory", "/"),
               "memory_limit": None if limit is None or int(limit) >= NO_LIMIT else int(limit),
               "cpus": None if quota in (None, "-1") else int(quota) / int(period)}
    if out["memory_limit"] is None and out["cpus"] is None:
        # no share of its own: the group is the machine's or a container's, and its kills (if
        # any) may be anyone's, so none are pinned on the lab
        return None
    out["memory_used"] = int(used) if used else None
    out["oom_kills"] = _count(events, "oom_kill")
    out["message"] = message(out)
    return out


def message(limits: dict[str, Any]) -> str:
    """What a learner reads about their limits; loud when the kernel has killed something."""
    mib = limits["memory_limit"] and limits["memory_limit"] >> 20
    cap = (f"{mib} MiB" if mib else "no memory limit") + (
        f", {limits['cpus']:g} CPU" if limits.get("cpus") else "")
    kills = limits["oom_kills"]
    if kills:
        return (f"MEMORY LIMIT REACHED: the kernel killed {kills} process"
                f"{'es' if kills > 1 else ''} in this lab's share of the machine ({cap}, cgroup "
                f"{limits['cgroup']}: the lab's servers, and on a classroom server your "
                "notebooks' kernels too). A node or service that is down now was killed by the "
                "limit, not by a fault: stop what you do not need (a chaos run, a kernel) or ask "
                "the instructor for a larger share.")
    return f"this lab runs within {cap} (cgroup {limits['cgroup']})"
