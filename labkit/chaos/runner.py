"""Drive a chaos run: workloads in threads, faults on schedule, then recovery and checks."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from labkit import tiers
from labkit.chaos.plan import Fault, make_plan
from labkit.chaos.workload import Workload
from labkit.cluster import Cluster
from labkit.errors import LabError
from labkit.layout import home


@dataclass
class ChaosReport:
    seed: int
    duration: float
    plan: list[Fault]
    requests: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)

    @property
    def availability(self) -> float:
        return 1.0 if not self.requests else (self.requests - self.failed) / self.requests

    @property
    def nines(self) -> float:
        unavailable = 1.0 - self.availability
        return math.inf if unavailable <= 0 else -math.log10(unavailable)

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        nines = "∞" if math.isinf(self.nines) else f"{self.nines:.2f}"
        lines = [f"chaos seed {self.seed}, {self.duration:.0f}s, {len(self.plan)} faults",
                 f"availability {100 * self.availability:.3f}% ({nines} nines) over "
                 f"{self.requests} requests, {self.failed} failed"]
        lines += [f"  FAIL: {p}" for p in self.problems]
        if not self.problems:
            lines.append("  all checks green: acknowledged writes present, no orphan processes")
        return "\n".join(lines)


def run_chaos(lab: Cluster, duration: float, seed: int, rate: float = 10.0,
              workloads: list[Workload] | None = None,
              progress: Callable[[str], None] = lambda _m: None) -> ChaosReport:
    if duration < 20:
        raise LabError("a chaos run needs at least 20 seconds", "use --duration 60 or more")
    if any(n["state"] != "up" for n in lab.status()["nodes"]):
        raise LabError("every node must be up before a chaos run", "run `labkit recover NODE`")
    services = {n.name: [p for p, _ in lab.backend.services(n.name).items()]
                for n in lab.layout.nodes}
    plan = make_plan(lab.layout.topology, services, duration, seed)
    report = ChaosReport(seed, duration, plan)
    loads = workloads if workloads is not None else default_workloads(lab)
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop, rate), daemon=True) for w in loads]
    for th in threads:
        th.start()
    t0, t0_wall = time.monotonic(), time.time()
    try:
        for fault in plan:
            _sleep_until(t0 + fault.start)
            progress(fault.describe())
            report.timeline.append((time.monotonic() - t0, "fault " + fault.describe()))
            node = fault.target.partition("/")[0]
            lab.fail(fault.target, fault.mode if fault.mode != "kill" else "crash")
            if fault.mode != "kill":
                _sleep_until(t0 + fault.start + fault.duration)
                lab.recover(node)
                report.timeline.append((time.monotonic() - t0, f"recovered {node}"))
        _sleep_until(t0 + duration)
    finally:
        lab.recover_all()
        stop.set()
        for th in threads:
            th.join(timeout=10)
    progress("checking acknowledged writes and processes")
    for w in loads:
        report.requests += w.ok + w.failed
        report.failed += w.failed
        report.timeline += [(t - t0_wall, e) for t, e in w.errors[:50]]
        report.problems += w.verify()
    report.problems += orphan_processes(lab)
    report.timeline.sort()
    return report


def orphan_processes(lab: Cluster) -> list[str]:
    """Lab programs (servers using the run directory, labkit modules run for this lab) that
    no supervisor owns. The `labkit` commands a learner runs against the lab (this chaos run,
    `labkit events --follow --lab X`) are clients, not lab programs."""
    me = psutil.Process()
    owned: set[int] = {me.pid, *(p.pid for p in me.parents())}
    for name in ["lab", *(n.name for n in lab.layout.nodes)]:
        pid = lab.backend.supervisor(name).pid()  # type: ignore[attr-defined]
        if pid:
            owned.add(pid)
            owned |= {p.pid for p in psutil.Process(pid).children(recursive=True)}
    rundir = str(lab.layout.rundir)
    marker = f"--lab {lab.layout.lab}"
    orphans = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        program = rundir in cmd or ("-m labkit." in cmd and marker in cmd)
        if p.pid in owned or not program:
            continue
        try:  # a lab of the same name under another LABKIT_HOME is not ours
            other_home = p.environ().get("LABKIT_HOME")
        except (psutil.AccessDenied, psutil.NoSuchProcess):
            other_home = None
        if rundir in cmd or other_home in (None, str(home())):
            orphans.append(f"orphan process {p.pid}: {cmd[:100]}")
    return orphans


def _sleep_until(deadline: float) -> None:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))


def default_workloads(lab: Cluster) -> list[Workload]:
    """Every tier's workloads, as the tier registry lists them (each gives [] when its tier is
    not in the lab)."""
    loads: list[Workload] = []
    for tier in tiers.TIERS:
        if tier.workloads:
            loads += tiers.load(tier.workloads).workloads(lab)
    return loads
