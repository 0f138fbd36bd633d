"""Drive a chaos run: workloads in threads, the nemesis on schedule, recovery, then the checks.

The nemesis resolves each fault's role target (``mysql-active``, ``vip-owner``, …) to a node at
the moment it fires and records that node; it enforces the plan's rule 3 again there, since only
then is it known which nodes the roles are on. After the last fault every node is recovered, the
database pairs are given time to settle, and one final read on each primary decides the
set-full verdicts. The history (JSON lines) and a timeline (self-contained HTML) are written to
the lab's run directory (`RunDir.chaos_run`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from labkit import tiers, wait
from labkit.chaos.checker import Availability, SetResult, availability, check_set
from labkit.chaos.history import History
from labkit.chaos.plan import (
    LATE_DELAY,
    LATE_JITTER,
    LINK_MODES,
    LINK_TARGETS,
    PAIRED,
    PLANS,
    ROLE_TARGETS,
    Fault,
    make_plan,
    spare_nodes,
)
from labkit.chaos.workload import SetTier, Workload
from labkit.cluster import Cluster
from labkit.errors import LabError
from labkit.layout import home

MIN_DURATION = 20.0


@dataclass
class FaultRecord:
    """A planned fault as it happened: the node its target resolved to, when, or why not."""

    fault: Fault
    node: str | None = None
    started: float | None = None
    ended: float | None = None
    skipped: str | None = None

    @property
    def active(self) -> bool:
        return self.started is not None and self.ended is None and self.fault.mode != "kill"


@dataclass
class ChaosReport:
    seed: int
    duration: float
    plan: list[Fault]
    plan_name: str = "random"
    faults: list[FaultRecord] = field(default_factory=list)
    sets: dict[str, SetResult] = field(default_factory=dict)
    windows: dict[str, Availability] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    history_path: Path | None = None
    timeline_path: Path | None = None
    history: History = field(default_factory=History, repr=False)
    elapsed: float = 0.0  # the run's real length: recoveries can stretch the plan

    @property
    def requests(self) -> int:
        return sum(a.ok + a.fail + a.info for a in self.windows.values())

    @property
    def failed(self) -> int:
        return sum(a.fail + a.info for a in self.windows.values())

    @property
    def availability(self) -> float:
        """Per request, over every tier: ok ÷ all (see `windows` for the per-window view)."""
        return 1.0 if not self.requests else (self.requests - self.failed) / self.requests

    @property
    def nines(self) -> float:
        unavailable = 1.0 - self.availability
        return math.inf if unavailable <= 0 else -math.log10(unavailable)

    @property
    def lost(self) -> dict[str, int]:
        return {tier: len(res.lost) for tier, res in self.sets.items()}

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        nines = "∞" if math.isinf(self.nines) else f"{self.nines:.2f}"
        done = [r for r in self.faults if r.started is not None]
        lines = [f"chaos plan {self.plan_name}, seed {self.seed}, {self.duration:.0f}s "
                 f"(ran {self.elapsed:.0f}s), "
                 f"{len(done)} of {len(self.plan)} faults made",
                 f"availability {100 * self.availability:.3f}% ({nines} nines) over "
                 f"{self.requests} requests, {self.failed} not ok"]
        lines += [f"  {tier}: lost {len(res.lost)}, {_verdict_line(res)}"
                  for tier, res in self.sets.items()]
        lines += [f"  FAIL: {p}" for p in self.problems]
        if not self.problems:
            lines.append("  all checks green: acknowledged writes present, no orphan processes")
        return "\n".join(lines)

    def figure(self) -> Any:
        """The timeline as a plotly figure (what timeline.html shows), for a notebook."""
        from labkit.chaos.timeline import Band, figure  # plotly: only when drawn

        bands = [Band(r.started, r.ended if r.ended is not None else self.duration,
                      r.fault.mode, f"{r.fault.mode} {r.fault.target}→{r.node}")
                 for r in self.faults if r.started is not None]
        return figure(self.history, bands, self.windows,
                      f"chaos plan {self.plan_name}, seed {self.seed}")

    def table(self) -> str:
        """The chaos table: faults by kind and target, ops by outcome, availability."""
        return "\n".join([*_fault_table(self.faults), "", *_ops_table(self),
                          "", *_availability_table(self.windows)])


def _verdict_line(res: SetResult) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in res.counts.items() if v)
    return f"{counts or 'no elements'}; stale reads {res.stale_reads}"


def _fault_table(records: list[FaultRecord]) -> list[str]:
    rows: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        node = r.node or "-"
        rows[(r.fault.mode, r.fault.target, node if not r.skipped else "skipped")] += 1
    wide = [max([len(h)] + [len(k[i]) for k in rows]) + 2
            for i, h in enumerate(("kind", "target", "node"))]  # link targets are long
    lines = ["faults by kind and target",
             f"  {'kind':<{wide[0]}}{'target':<{wide[1]}}{'node':<{wide[2]}}count"]
    lines += [f"  {m:<{wide[0]}}{t:<{wide[1]}}{n:<{wide[2]}}{c}"
              for (m, t, n), c in sorted(rows.items())]
    return lines


def _ops_table(report: ChaosReport) -> list[str]:
    lines = ["ops by outcome", f"  {'tier':<14}{'ok':>6}{'fail':>6}{'info':>6}   verdicts"]
    for tier, a in sorted(report.windows.items()):
        res = report.sets.get(tier)
        verdicts = f"lost {len(res.lost)}; {_verdict_line(res)}" if res else "-"
        lines.append(f"  {tier:<14}{a.ok:>6}{a.fail:>6}{a.info:>6}   {verdicts}")
    return lines


def _availability_table(windows: dict[str, Availability]) -> list[str]:
    lines = ["availability", f"  {'tier':<14}{'per request':>12}{'windows ok':>12}"
                             f"{'window min':>12}{'window p50':>12}"]
    for tier, a in sorted(windows.items()):
        lines.append(f"  {tier:<14}{a.per_request:>12.3f}{a.available_windows:>12.3f}"
                     f"{a.window_min:>12.3f}{a.window_p50:>12.3f}")
    if windows:
        width = next(iter(windows.values())).width
        lines.append(f"  (windows of {width:g} s: 'windows ok' = share with some op ok; "
                     "min / p50 of each window's ok ÷ completed)")
    return lines


def run_chaos(lab: Cluster, duration: float, seed: int, rate: float = 10.0,
              workloads: list[Workload] | None = None,
              progress: Callable[[str], None] = lambda _m: None, plan: str = "random",
              faults: list[Fault] | None = None, heal: float = 8.0,
              skip_late: bool = True) -> ChaosReport:
    """Run `plan` (or the explicit `faults`) under every tier's workload, then check.

    Slow recoveries shift the plan; with `skip_late` a step that would then end after
    `duration` is skipped (and recorded), without it the run makes every step and ends later."""
    check_arguments(duration, rate, plan)
    _check_lab(lab)
    services = {n.name: list(lab.backend.services(n.name)) for n in lab.layout.nodes}
    schedule = faults if faults is not None else make_plan(
        lab.layout.topology, services, duration, seed, heal=heal, name=plan,
        links=lab.backend.no_link_faults is None,
        delays=lab.backend.no_link_faults is None and lab.backend.links_delayed is not None)
    report = ChaosReport(seed, duration, schedule, plan if faults is None else "explicit")
    report.history = history = History()
    report.faults = [FaultRecord(f) for f in schedule]
    loads = workloads if workloads is not None else default_workloads(lab)
    for w in loads:
        w.attach(history)
    _drive(lab, loads, history, report, rate, progress, heal, skip_late)
    progress("final reads on the primaries, then the checks")
    _check(lab, loads, history, report)
    _save(lab, history, report)
    return report


def check_arguments(duration: float, rate: float, plan: str = "random") -> None:
    """Refuse a run that could not mean anything, before a lab is touched."""
    if not rate > 0:
        raise LabError(f"--rate must be more than 0 operations per second, not {rate:g}",
                       "use e.g. --rate 10")
    if not duration > 0:
        raise LabError(f"--duration must be a positive number of seconds, not {duration:g}",
                       "use --duration 60 or more")
    if duration < MIN_DURATION:
        raise LabError(f"a chaos run needs at least {MIN_DURATION:.0f} seconds",
                       "use --duration 60 or more")
    if plan not in PLANS:
        raise LabError(f"unknown chaos plan {plan!r}", f"choose one of: {', '.join(PLANS)}")


def _check_lab(lab: Cluster) -> None:
    if any(n["state"] != "up" for n in lab.status()["nodes"]):
        raise LabError("every node must be up before a chaos run", "run `labkit recover NODE`")


def _drive(lab: Cluster, loads: list[Workload], history: History, report: ChaosReport,
           rate: float, progress: Callable[[str], None], heal: float = 8.0,
           skip_late: bool = True) -> None:
    stop = threading.Event()
    history.t0 = time.monotonic()  # the run starts now, not when the workloads were built
    threads = [threading.Thread(target=w.run, args=(stop, rate), daemon=True,
                                name=f"chaos-{w.process}") for w in loads]
    for th in threads:
        th.start()
    nemesis = Nemesis(lab, history, report, progress, heal, skip_late)
    try:
        nemesis.run()
        # the workloads see the last recovery through one healing time, and the run its length
        _sleep_until(history.t0 + max(report.duration, history.now() + (heal if nemesis.late
                                                                           else 0.0)))
    finally:
        nemesis.recover_everything()
        report.elapsed = history.now()
        stop.set()
        for th in threads:
            th.join(timeout=15)
        history.close()


class Nemesis:
    """Fires the plan's faults at whoever holds the role now, and undoes them on time."""

    #: how long a step that breaks a pair waits for that pair to be whole before it starts
    PAIR_WAIT = 60.0

    def __init__(self, lab: Cluster, history: History, report: ChaosReport,
                 progress: Callable[[str], None], heal: float = 8.0,
                 skip_late: bool = True) -> None:
        self.lab, self.history, self.report, self.progress = lab, history, report, progress
        self.heal = heal
        self.skip_late = skip_late
        self.late = 0.0  # a recovery waits for the node's servers: the plan shifts after it

    def note(self, text: str) -> None:
        self.report.timeline.append((self.history.now(), text))
        self.progress(text)

    def run(self) -> None:
        events = []
        for i, rec in enumerate(self.report.faults):
            events.append((rec.fault.start, 1, i))
            if rec.fault.mode != "kill":
                events.append((rec.fault.end, 0, i))  # at the same time: recover first
        for at, fire, i in sorted(events):
            rec = self.report.faults[i]
            if not fire and rec.node is None:
                continue  # nothing was broken (skipped, or refused): no recovery to wait for
            why = self.not_now(i) if fire else None
            if why:
                self.skip(rec, why)
                continue
            _sleep_until(self.history.t0 + at + self.late)
            if fire and self.opens_step(i) and (why := self.wait_for_pair(rec.fault)):
                self.skip(rec, why)
                continue
            self.fire(rec) if fire else self.undo(rec)
            self.late = max(self.late, self.history.now() - at - 0.5)

    def skip(self, rec: FaultRecord, why: str) -> None:
        rec.skipped = why
        self.note(f"skipped {rec.fault.mode} {rec.fault.target}: {why}")

    def step_of(self, i: int) -> list[int]:
        """The faults of fault i's step: the run of neighbours in the plan sharing its group
        (the plan lists a step's faults together); an ungrouped fault is a step of its own."""
        faults, group = self.report.faults, self.report.faults[i].fault.group
        if not group:
            return [i]
        lo, hi = i, i
        while lo > 0 and faults[lo - 1].fault.group == group:
            lo -= 1
        while hi + 1 < len(faults) and faults[hi + 1].fault.group == group:
            hi += 1
        return list(range(lo, hi + 1))

    def opens_step(self, i: int) -> bool:
        return bool(self.report.faults[i].fault.group) and self.step_of(i)[0] == i

    def not_now(self, i: int) -> str | None:
        """Why fault i is not fired at all: a step is made whole or not at all. Its first fault
        is skipped when the shifted plan would end the step, healed, after the run's end; the
        rest of a step that started is made even when late (half a step tests nothing), and
        the rest of a step that did not start is skipped with it."""
        step = self.step_of(i)
        first = self.report.faults[step[0]]
        if step[0] != i:
            if first.started is None:
                return f"its step's first fault ({first.fault.mode} {first.fault.target}) " \
                       "was not made"
            return None
        end = max(self.report.faults[j].fault.end for j in step)
        if self.overruns(end):
            return (f"the run is {self.late:.0f}s behind its plan (recoveries wait for the "
                    "node's servers): this step and its healing would end after the run's "
                    f"{self.report.duration:.0f}s")
        return None

    def overruns(self, end: float) -> bool:
        """A plan shifted by slow recoveries would run far past its duration (a 300 s run took
        617 s): a step that would now end, healed, after the run's end is skipped instead.
        An unshifted plan fires as written, and so does every plan run with `skip_late` off
        (it runs longer instead)."""
        return self.skip_late and self.late > 0 and end + self.late + self.heal \
            > self.report.duration

    def wait_for_pair(self, fault: Fault) -> str | None:
        """Before a step that breaks a pair's standby and then its active: wait until the pair
        is whole (an earlier step may still be re-seeding the standby), or say why not."""
        pair = ROLE_TARGETS.get(fault.target.partition("/")[0])
        if pair not in ("mysql", "postgres"):
            return None
        handle = self.lab.mysql if pair == "mysql" else self.lab.postgres
        began = self.history.now()
        why: list[str | None] = [handle.not_whole()]
        if why[0] is None:
            return None
        self.note(f"waiting for the {pair} pair to be whole before [{fault.group}]: {why[0]}")

        def whole() -> bool:
            why[0] = handle.not_whole()
            return why[0] is None
        if wait.until(whole, self.PAIR_WAIT, every=0.5):
            self.note(f"the {pair} pair is whole after {self.history.now() - began:.1f}s")
            return None
        return f"the {pair} pair is not whole after {self.PAIR_WAIT:.0f}s: {why[0]}"

    def fire(self, rec: FaultRecord) -> None:
        if rec.fault.mode in LINK_MODES:
            self.fire_link(rec)
            return
        target, _, service = rec.fault.target.partition("/")
        node, why = resolve(self.lab, target)
        if node is not None:
            why = self.refusal(rec, node, service)
        if why:
            rec.skipped = why
            self.note(f"skipped {rec.fault.mode} {rec.fault.target}: {why}")
            return
        began = self.history.now()  # a crash returns once every process is gone: 1-2 s later
        try:
            self.lab.fail(f"{node}/{service}" if service else node,
                          "crash" if service else rec.fault.mode)
        except LabError as exc:
            rec.skipped = exc.message
            self.note(f"skipped {rec.fault.mode} {rec.fault.target}: {exc.message}")
            return
        rec.node, rec.started = node, began
        if service:
            rec.ended = rec.started
        self.note(f"fault {rec.fault.mode} {rec.fault.target} → {node}"
                  + (f"  [{rec.fault.group}]" if rec.fault.group else ""))

    def fire_link(self, rec: FaultRecord) -> None:
        """Cut a link (both ways or one), make it late, or split the lab, between the nodes
        holding the targets' roles now; the record names the nodes (`node1~node2`, or the
        minority side)."""
        ends = [resolve(self.lab, t) for t in rec.fault.target.split("~")]
        why = next((w for _, w in ends if w), None) or self.link_refusal(
            [n for n, _ in ends if n])
        nodes = [n for n, _ in ends if n]
        began = self.history.now()
        try:
            if not why and rec.fault.mode == "partition":
                side = nodes + self.partner(nodes[0])
                rest = [n.name for n in self.lab.layout.nodes if n.name not in side]
                self.lab.partition(f"{','.join(side)} / {','.join(rest)}")
                nodes = side
            elif not why and rec.fault.mode == "late":
                self.lab.impair(nodes[0], nodes[1], delay=LATE_DELAY, jitter=LATE_JITTER)
            elif not why:
                self.lab.cut(nodes[0], nodes[1], one_way=rec.fault.mode == "one-way")
        except LabError as exc:
            why = exc.message
        if why:
            rec.skipped = why
            self.note(f"skipped {rec.fault.mode} {rec.fault.target}: {why}")
            return
        rec.node, rec.started = "~".join(nodes), began
        self.note(f"fault {rec.fault.mode} {rec.fault.target} → {rec.node}")

    def link_refusal(self, nodes: list[str]) -> str | None:
        """A link fault fires alone (heal removes every link fault at once), between up nodes."""
        busy = [r for r in self.report.faults if r.active]
        if busy:
            return (f"{busy[0].fault.mode} {busy[0].node} is still in force: a link fault fires "
                    "alone")
        down = [n for n in nodes if self.lab.backend.node_state(n) != "up"]
        return f"{down[0]} is {self.lab.backend.node_state(down[0])}" if down else None

    def partner(self, node: str) -> list[str]:
        """The spare node (no paired role) that joins `node`'s minority side, if there is one."""
        topo = self.lab.layout.topology
        spare = [n for n in spare_nodes(topo) if n != node]
        return spare[:1] if len(topo.nodes) > 3 else []

    def refusal(self, rec: FaultRecord, node: str, service: str) -> str | None:
        """Why this fault may not fire now (rule 3 of the plan, and a node already broken)."""
        state = self.lab.backend.node_state(node)
        if state != "up":
            return f"{node} is {state}"
        if service and service not in self.lab.backend.services(node):
            return f"{node} runs no {service}"
        if service:
            return None
        broken = {r.node: r for r in self.report.faults if r.active}
        topo = self.lab.layout.topology
        for role in PAIRED:
            members = {n.name for n in topo.with_role(role)}
            if node not in members:
                continue
            for other in members - {node}:
                if other in broken and not (rec.fault.group
                                            and broken[other].fault.group == rec.fault.group):
                    return f"{other} is broken too: both members of the {role} pair (rule 3)"
        return None

    def undo(self, rec: FaultRecord) -> None:
        if rec.node is None or not rec.active:
            return
        if rec.fault.mode in LINK_MODES:
            self.lab.heal()
            rec.ended = self.history.now()
            self.note(f"healed {rec.fault.mode} {rec.node}")
            return
        try:
            self.lab.recover(rec.node)
        except LabError as exc:
            self.note(f"recover {rec.node}: {exc.message}")
        rec.ended = self.history.now()
        self.note(f"recovered {rec.node} ({'thawed' if rec.fault.mode == 'freeze' else 'back'})")

    def recover_everything(self) -> None:
        for rec in self.report.faults:
            if rec.active:
                self.undo(rec)
        if self.lab.backend.no_link_faults is None:
            self.lab.heal()
        self.lab.recover_all()


def resolve(lab: Cluster, target: str) -> tuple[str | None, str | None]:
    """The node holding role target `target` right now (a node name is itself)."""
    if target not in ROLE_TARGETS and target not in LINK_TARGETS:
        return target, None
    if target == "vip-owner":
        node = lab.backend.vip().get("owner")
    elif target == "vip-backup":
        owner = lab.backend.vip().get("owner")
        others = [n.name for n in lab.layout.topology.with_role("lb") if n.name != owner]
        node = others[0] if owner and others else None
    else:
        tier = lab.mysql if target.startswith("mysql") else lab.postgres
        node = tier.active() if target.endswith(("active", "primary")) else tier.standby()
    if not isinstance(node, str):
        return None, f"no node is {target} right now (a failover in progress?)"
    return node, None


def _check(lab: Cluster, loads: list[Workload], history: History, report: ChaosReport) -> None:
    sets = {id(w.set): w.set for w in loads if isinstance(getattr(w, "set", None), SetTier)}
    for target in sets.values():
        _final_read(target, history)
        target.clean()
        target.close()
        report.sets[target.tier] = check_set(target.tier, history.of(target.tier))
        report.problems += report.sets[target.tier].problems()
    for tier in history.tiers():
        report.windows[tier] = availability(tier, history.of(tier),
                                            report.elapsed or report.duration)
    for w in loads:
        report.timeline += [(t - time.time() + history.now(), e) for t, e in w.errors[:10]]
        report.problems += w.verify()
    report.problems += orphan_processes(lab)
    report.timeline.sort()


def _final_read(target: SetTier, history: History, timeout: float = 90) -> None:
    """Wait for the pair to settle, then read the set on the primary (retrying a failover)."""
    wait.until(target.settled, timeout, every=1)
    op = history.invoke(f"{target.tier}-final", target.tier, "read", final=True)
    try:
        seen, node = wait.retry(target.read_primary, timeout, every=1)
    except Exception as exc:  # noqa: BLE001 - no final read: the checker says never-read
        history.complete(op, "fail", error=f"{type(exc).__name__}: {exc}")
        return
    history.complete(op, "ok", result=seen, node=node)


def _save(lab: Cluster, history: History, report: ChaosReport) -> None:
    run = f"{time.strftime('%Y%m%d-%H%M%S')}-{report.plan_name}-seed{report.seed}"
    report.history_path = history.write_jsonl(lab.layout.paths.chaos_history(run))
    path = lab.layout.paths.chaos_timeline(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    # plotly.js goes into the file: a learner on Binder has no internet for a CDN
    report.figure().write_html(str(path), include_plotlyjs=True, full_html=True)
    report.timeline_path = path


def orphan_processes(lab: Cluster) -> list[str]:
    """Lab programs (servers using the run directory, labkit modules run for this lab) that
    no supervisor owns. The `labkit` commands a learner runs against the lab (this chaos run,
    `labkit events --follow --lab X`) are clients, not lab programs."""
    me = psutil.Process()
    owned: set[int] = {me.pid, *(p.pid for p in me.parents()), *lab.backend.daemons()}
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
