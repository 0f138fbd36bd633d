"""Capacity of one classroom server (issue 16, part 3): N learners' labs side by side.

For N = 1, 2, ... it makes N learners (local users, as `classroom/learners` does), starts all N
labs at once the way the hub does (`classlab.start_lab`: `binder/start` as the learner, inside
their control group), and measures: the time until the last learner's VIP answers, each lab's
proportional memory (PSS, shared pages counted once), the CPU every learner's processes use at
rest and in the 15 s after a fault (the VIP owner of learner 1's lab crashed, as lesson 01 does),
and that fault's client-visible gap. Then every lab goes down and the users are removed.

  labslot B .venv/bin/python -m bench.classroom --max 3      # as root; bench/results-classroom.json

The limits are set wide (8G, 2 CPUs) so the figures are what a lab needs, not what a cap allows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "classroom"))
os.environ.update({"LABKIT_CLASS_LEARNERS": "lkb-learners", "LABKIT_CLASS_MEMORY": "8G",
                   "LABKIT_CLASS_CPUS": "2"})

import classlab  # noqa: E402

from labkit import Cluster, cgroups  # noqa: E402
from labkit.layout import Layout  # noqa: E402

OUT = REPO / "bench" / "results-classroom.json"


def learners(n: int) -> list[str]:
    return [f"lkb-{i}" for i in range(1, n + 1)]


def add_users(users: list[str]) -> None:
    for user in users:
        subprocess.run([sys.executable, str(REPO / "classroom" / "learners"), "add", user,
                        "--password-stdin"], input=secrets.token_urlsafe(12) + "\n", text=True,
                       check=True, capture_output=True)


def remove_users(users: list[str]) -> None:
    for user in users:
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            continue
        with contextlib.suppress(Exception):  # whatever state the lab is in, the user goes
            classlab.stop_lab(user, purge=True)
        cgroups.kill_all(cgroups.group_dirs(user))  # userdel refuses a user still running
        cgroups.remove(cgroups.group_dirs(user))
        subprocess.run([sys.executable, str(REPO / "classroom" / "learners"), "remove", user],
                       capture_output=True)
    subprocess.run(["groupdel", "lkb-learners"], capture_output=True)


def lab_of(user: str) -> Cluster | None:
    """The learner's lab through the facade (root reads their run directory)."""
    os.environ["LABKIT_HOME"] = str(classlab.lab_home(user))
    if not (classlab.lab_home(user) / classlab.LAB / "layout.json").exists():
        return None
    return Cluster(Layout.load(classlab.LAB))


def vip_answers(user: str) -> bool:
    lab = lab_of(user)
    if lab is None:
        return False
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(lab.vip_url + "/health", timeout=1).status_code == 200
    return False


def settled(user: str, deadline: float) -> None:
    """Wait until every service on every node of the learner's lab runs."""
    while time.monotonic() < deadline:
        nodes = lab_of(user).status()["nodes"]
        if all(n["state"] == "up" and n["services"] and all(
                v == "running" for v in n["services"].values()) for n in nodes):
            return
        time.sleep(2)
    raise RuntimeError(f"{user}'s lab did not settle: {lab_of(user).status()['nodes']}")


def cpu_seconds(users: list[str]) -> float:
    total = 0.0
    for p in psutil.process_iter(["username"]):
        if p.info["username"] in users:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
    return total


def cores_over(users: list[str], seconds: float) -> float:
    """CPU cores the learners' processes use on average over `seconds` (new processes count
    from zero, ended ones drop out: a close estimate over a quiet window)."""
    before, t0 = cpu_seconds(users), time.monotonic()
    time.sleep(seconds)
    return max(0.0, cpu_seconds(users) - before) / (time.monotonic() - t0)


def failover_gap(user: str) -> float:
    """Crash the VIP owner of `user`'s lab; seconds until the VIP answers from the other node."""
    lab = lab_of(user)
    owner = lab.status()["vip"]["owner"]
    t0 = time.monotonic()
    lab.fail(owner, "crash")
    while time.monotonic() - t0 < 60:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(lab.vip_url + "/health", timeout=0.5).status_code == 200 and \
                    lab_of(user).status()["vip"]["owner"] not in (owner, None):
                return time.monotonic() - t0
        time.sleep(0.01)
    raise RuntimeError(f"{user}'s VIP did not come back in 60 s")


def measure(n: int, topology: str) -> dict[str, Any]:
    users = learners(n)
    os.environ["LABKIT_CLASS_TOPOLOGY"] = topology
    add_users(users)
    try:
        t0 = time.monotonic()
        for user in users:
            classlab.start_lab(user)
        waiting, first_vip = set(users), {}
        while waiting and time.monotonic() - t0 < 900:
            for user in sorted(waiting):
                if vip_answers(user):
                    first_vip[user] = time.monotonic() - t0
                    waiting.discard(user)
            time.sleep(0.5)
        if waiting:
            raise RuntimeError(f"no VIP answer after 900 s from {sorted(waiting)}")
        # at rest means every service of every lab running (Cassandra comes well after the VIP)
        for user in users:
            settled(user, t0 + 900)
        time.sleep(20)  # and the start-up's last work done
        pss = {u: lab_of(u).status(resources=True)["resources"]["pss_total"] for u in users}
        share = {u: cgroups.usage_of(paths={"memory": f"/{cgroups.PARENT}/{u}",
                                            "cpu": f"/{cgroups.PARENT}/{u}"})["memory_used"]
                 for u in users}
        rest = cores_over(users, 30)
        gap_t0 = time.monotonic()
        gap = failover_gap(users[0])
        fault = cores_over(users, max(0.0, 15 - (time.monotonic() - gap_t0)) or 1)
        return {"learners": n, "topology": topology,
                "first_vip_s": first_vip, "last_vip_s": max(first_vip.values()),
                "pss_mib": {u: round(v / 2**20) for u, v in pss.items()},
                "pss_mib_mean": round(statistics.mean(pss.values()) / 2**20),
                "cgroup_memory_mib": {u: v and round(v / 2**20) for u, v in share.items()},
                "cpu_cores_at_rest": round(rest, 3),
                "cpu_cores_after_fault": round(fault, 3),
                "vip_gap_crash_s": round(gap, 3)}
    finally:
        remove_users(users)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=int, default=1)
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--topology", default="binder/small.yml")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.classroom: run as root (it makes one local user per learner)")
    results = [r for r in json.loads(OUT.read_text())["runs"] if r["learners"] < args.min
               ] if OUT.exists() and args.min > 1 else []
    for n in range(args.min, args.max + 1):
        results.append(measure(n, args.topology))
        print(json.dumps(results[-1]), flush=True)
        OUT.write_text(json.dumps({"machine": {"cpus": os.cpu_count(),
                                               "memory_gib": round(psutil.virtual_memory().total
                                                                   / 2**30, 1)},
                                   "runs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
