"""One learner's lab on the classroom server, as the hub, its spawner and the instructor's page
see it: who is a learner, where their lab lives, their share of the machine, and running labkit
as them.

Every learner is a local user (PAM logs them in), so the isolation of labs on a shared machine
(issue 14: a private run directory, secrets of their own, a /24 of their own) holds between
learners exactly as between any two users. Nothing here runs a lab as root: the hub is root only
to become each learner.

Settings (environment variables read by the hub, see docs/instructor-classroom.md):
  LABKIT_CLASS_LEARNERS     the Unix group of learners        (labkit-learners)
  LABKIT_CLASS_INSTRUCTORS  the Unix group of instructors     (labkit-instructors)
  LABKIT_CLASS_TOPOLOGY     each learner's lab                (binder/small.yml)
  LABKIT_CLASS_MEMORY       each learner's memory limit       (3G)
  LABKIT_CLASS_CPUS         each learner's CPU limit          (1)
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit import cgroups

REPO = Path(__file__).resolve().parent.parent
#: the class's virtualenv (`make classroom-setup`), on an interpreter every learner may run
VENV_BIN = Path(os.environ.get("LABKIT_CLASS_VENV", REPO / "classroom" / ".venv")) / "bin"
LEARNERS = os.environ.get("LABKIT_CLASS_LEARNERS", "labkit-learners")
INSTRUCTORS = os.environ.get("LABKIT_CLASS_INSTRUCTORS", "labkit-instructors")
LAB = "default"  #: each learner has one lab, under their own LABKIT_HOME
LESSONS = "lessons"  #: the folder in a learner's home the lessons are copied to


def topology() -> Path:
    path = Path(os.environ.get("LABKIT_CLASS_TOPOLOGY", "binder/small.yml"))
    return path if path.is_absolute() else REPO / path


def memory() -> int:
    return cgroups.parse_size(os.environ.get("LABKIT_CLASS_MEMORY", "3G"))


def cpus() -> float:
    return float(os.environ.get("LABKIT_CLASS_CPUS", "1"))


def members(group: str) -> list[str]:
    """The users in a Unix group (listed in it, or with it as their primary group)."""
    try:
        g = grp.getgrnam(group)
    except KeyError:
        return []
    primary = [p.pw_name for p in pwd.getpwall() if p.pw_gid == g.gr_gid]
    return sorted(set(g.gr_mem) | set(primary))


def is_instructor(user: str) -> bool:
    return user in members(INSTRUCTORS)


def lab_home(user: str) -> Path:
    """The learner's LABKIT_HOME: the non-root default, spelled out for the hub's sake."""
    return Path(pwd.getpwnam(user).pw_dir) / ".local" / "state" / "labkit"


def environment(user: str) -> dict[str, str]:
    """What labkit needs in a learner's processes: their home, the project's tools, the
    class's topology and the machine's Cassandra jars (root's cache, readable by all)."""
    entry = pwd.getpwnam(user)
    env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, "SHELL": "/bin/bash",
           "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
           "LABKIT_HOME": str(lab_home(user)), "LABKIT_LAB": LAB,
           "LABKIT_BINDER_TOPOLOGY": str(topology()), "LANG": "C.UTF-8"}
    cassandra = Path("/var/cache/labkit")
    for lib in sorted(cassandra.glob("cassandra-*/lib")):
        env["LABKIT_CASSANDRA_LIB"] = str(lib)
    return env


def share(user: str) -> list[Path]:
    """The learner's control group with the class's limits (made or re-limited); [] where the
    kernel offers no control groups (the class then runs without limits: `labkit status` shows
    none). A hierarchy that refuses the limits is an error, never a silent unlimited learner."""
    if cgroups.version() is None:
        return []
    return cgroups.create(user, memory(), cpus())


def become(user: str, dirs: list[Path]) -> Callable[[], None]:
    """A preexec_fn: join the learner's group (still root), then drop to the learner."""
    entry = pwd.getpwnam(user)

    def preexec() -> None:
        cgroups.join(dirs)
        os.setgid(entry.pw_gid)
        os.initgroups(user, entry.pw_gid)
        os.setuid(entry.pw_uid)

    return preexec


def copy_lessons(user: str) -> Path:
    """The lessons in the learner's home (`~/lessons`), copied once: their edits are theirs."""
    entry = pwd.getpwnam(user)
    target = Path(entry.pw_dir) / LESSONS
    if not target.exists():
        target.mkdir(mode=0o700)
        for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
            shutil.copy(nb, target / nb.name)
        for path in [target, *target.iterdir()]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return target


def run_as(user: str, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `argv` as the learner, inside their group, with their labkit environment."""
    return subprocess.run(argv, env=environment(user), cwd=str(REPO), capture_output=True,
                          text=True, timeout=timeout, preexec_fn=become(user, share(user)))


def start_lab(user: str) -> None:
    """Start the learner's lab in the background, the way Binder does (`binder/start`)."""
    subprocess.Popen([str(REPO / "binder" / "start"), "true"], env=environment(user),
                     cwd=str(REPO), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True,
                     preexec_fn=become(user, share(user)))


def stop_lab(user: str, purge: bool = False) -> str:
    """Take the learner's lab down; with purge, its data too (a reset). What labkit said."""
    if not (lab_home(user) / LAB / "layout.json").exists():
        return "no lab set up"
    res = run_as(user, [str(VENV_BIN / "labkit"), "down", "--lab", LAB]
                 + (["--purge"] if purge else []))
    return (res.stdout + res.stderr).strip()


def reset_lab(user: str) -> str:
    """A fresh lab for one learner: down, data purged, started again; their lesson progress
    (`progress.json` of the run directory) is put back, so a reset costs them no checks."""
    rundir = lab_home(user) / LAB
    progress = rundir / "progress.json"
    kept = progress.read_bytes() if progress.exists() else None
    said = stop_lab(user, purge=True)
    if kept is not None:
        entry = pwd.getpwnam(user)
        rundir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(rundir, entry.pw_uid, entry.pw_gid)
        fd = os.open(progress, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(kept)
        os.chown(progress, entry.pw_uid, entry.pw_gid)
    start_lab(user)
    return said


def status(user: str) -> dict[str, Any] | None:
    """`labkit status --json` run as the learner (what they would see); None with no lab."""
    if not (lab_home(user) / LAB / "layout.json").exists():
        return None
    res = run_as(user, [str(VENV_BIN / "labkit"), "status", "--json", "--lab", LAB], timeout=60)
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout).strip()[-500:]}
    return json.loads(res.stdout)


def progress(user: str) -> dict[str, int]:
    """Lesson → checks passed, from the learner's `progress.json` (root reads it)."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((lab_home(user) / LAB / "progress.json").read_text())
        return {lesson: sum(1 for c in kinds.get("checks", {}).values() if c.get("value"))
                for lesson, kinds in data.items()}
    return {}


def summary(user: str) -> dict[str, Any]:
    """One row of the instructor's page: the learner's lab at a glance."""
    st = status(user)
    row: dict[str, Any] = {"learner": user, "lab": "none", "vip": None, "vip_owner": None,
                           "nodes": {}, "limits": None, "progress": progress(user)}
    if st is None:
        return row
    if "error" in st:
        return row | {"lab": "error", "error": st["error"]}
    row.update(lab="up" if st.get("running") else "down", vip=st["vip"]["url"],
               vip_owner=st["vip"].get("owner"), limits=st.get("limits"),
               nodes={n["name"]: n["state"] for n in st["nodes"]})
    return row


async def summaries(users: list[str]) -> list[dict[str, Any]]:
    """Every learner's row, gathered side by side (each is a `labkit status` run)."""
    return list(await asyncio.gather(*(asyncio.to_thread(summary, u) for u in users)))
