"""The false-failover soak (issue 17): the chaos workload at full rate, both cores saturated by
a CPU hog, and no faults at all; then count what moved anyway.

Short timers are only worth having if they never fire on a healthy lab that is merely slow. So
the soak runs every tier's chaos workload (`labkit.chaos.runner.run_chaos` with an empty fault
list) while one busy-loop process per core competes with the lab for CPU, and counts, from the
lab's event log and from its state before and after:

* VIP moves: `vip` events (the local segment's and keepalived's notify) naming another owner;
* MySQL and PostgreSQL promotions: the watchers' `mysql_failover` / `postgres_failover` events,
  and the witness epochs (`witness/<tier>.json`) before and after;
* device moves: `device_move` events of a device that had a node (a re-placement, not the
  first placement of a discovered device), and each device's node before and after.

Every count's target is zero (bench/targets.toml). `make bench-soak` runs the soak and the
gap/timer curve (bench/curve.py) alone: bench/results-soak.json, then bench/RESULTS.md.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bench import curve, spine
from bench.figures import Figure
from labkit import Cluster, LabError
from labkit.chaos.runner import default_workloads, run_chaos
from labkit.db import witness

LAB = "bench-soak"
PROMOTIONS = ("mysql_failover", "postgres_failover")
DB_TIERS = ("mysql", "postgres")
HOG = "while True: pass"


# -- counting (pure: unit-tested on made-up event lists) ---------------------------------------
def vip_moves(evs: Iterable[Mapping[str, Any]], owner: str | None) -> int:
    """`vip` events that name an owner other than the one before (starting from `owner`, the
    VIP's owner when the soak began). An owner announcing itself again is not a move."""
    moves = 0
    for ev in evs:
        if ev.get("kind") != "vip":
            continue
        new = ev.get("owner")
        if new != owner:
            moves += 1
            owner = new
    return moves


def db_promotions(evs: Iterable[Mapping[str, Any]]) -> int:
    """Finished promotions of a MySQL standby or a PostgreSQL standby (the watchers' events)."""
    return sum(1 for ev in evs if ev.get("kind") in PROMOTIONS)


def device_moves(evs: Iterable[Mapping[str, Any]]) -> int:
    """Devices taken from one node and given to another (a first placement has no `from`)."""
    return sum(1 for ev in evs if ev.get("kind") == "device_move"
               and ev.get("from") and ev.get("from") != ev.get("to"))


def epoch_changes(before: Mapping[str, int], after: Mapping[str, int]) -> int:
    """How many terms each database pair went through between two readings of the witness."""
    return sum(max(0, after.get(tier, 0) - before.get(tier, 0)) for tier in before)


def placement_changes(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> int:
    """Devices placed on a node before whose node is another one after."""
    return sum(1 for dev, node in before.items()
               if node and after.get(dev) and after.get(dev) != node)


# -- the run -----------------------------------------------------------------------------------
@contextlib.contextmanager
def cpu_hog(processes: int | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One busy loop per core, at the lab's own priority; always killed on the way out."""
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(processes or os.cpu_count() or 2):
            hogs.append(subprocess.Popen([sys.executable, "-c", HOG]))
        yield hogs
    finally:
        for p in hogs:
            p.kill()
        for p in hogs:
            p.wait()


def epochs(lab: Cluster) -> dict[str, int]:
    """Each database pair's witness epoch (0 for a pair the lab does not have)."""
    out = {}
    for tier in DB_TIERS:
        term = witness.read(lab.layout.rundir, tier) if lab.layout.topology.with_role(tier) \
            else None
        out[tier] = term.epoch if term else 0
    return out


def placements(lab: Cluster) -> dict[str, str | None]:
    """Each discovered device's node ({} without a device tier)."""
    if not (lab.layout.topology.devices.count and lab.layout.topology.with_role("mysql")):
        return {}
    return {r["name"]: r["node"] for r in lab.devices.rows()}


def soak(lab: Cluster, duration: float, rate: float = 10.0) -> list[Figure]:
    """The workload for `duration` seconds under the CPU hog, no faults; the moves counted."""
    loads = default_workloads(lab)  # the device workload discovers the fleet here
    with contextlib.suppress(LabError):
        lab.devices.wait_connected(timeout=120)
    owner = lab.status()["vip"]["owner"]
    epochs0, placed0 = epochs(lab), placements(lab)
    since = time.time()
    with cpu_hog() as hogs:
        report = run_chaos(lab, duration, seed=1, rate=rate, workloads=loads, faults=[])
        hogged = len(hogs)
    evs = lab.events(since)
    epochs1, placed1 = epochs(lab), placements(lab)
    ok = sum(a.ok for a in report.windows.values())
    t = lab.layout.topology
    how = (f"{report.elapsed:.0f} s of every tier's chaos workload at {rate:g} ops/s per client, "
           f"{hogged} busy-loop processes on {os.cpu_count()} cores, no faults; VRRP advert "
           f"{t.vrrp.advert_interval:g} s, failover_after {t.mysql.failover_after:g} s (MySQL) / "
           f"{t.postgres.failover_after:g} s (PostgreSQL)")
    return [
        Figure("soak_seconds", report.elapsed, "s", how),
        Figure("soak_ops_ok", ok, "ops", how),
        Figure("soak_ops_not_ok", report.failed, "ops", how + "; fail + info (may have happened)"),
        Figure("soak_problems", len(report.problems), "count",
               how + "; the chaos checks' findings: " + _one_line(report.problems)),
        Figure("soak_vip_moves", vip_moves(evs, owner), "moves",
               how + f"; `vip` events naming another owner than {owner}"),
        Figure("soak_db_promotions",
               max(db_promotions(evs), epoch_changes(epochs0, epochs1)), "promotions",
               how + "; mysql_failover / postgres_failover events, or witness epochs "
                     f"{epochs0} → {epochs1}, whichever is more"),
        Figure("soak_device_moves",
               max(device_moves(evs), placement_changes(placed0, placed1)), "moves",
               how + f"; device_move events from a node, or devices on another node after "
                     f"({len(placed0)} placed)"),
    ]


def measure() -> list[Figure]:
    """The soak on a fresh default lab (brought down, purged, afterwards), then the gap/timer
    curve on small labs of its own (bench/curve.py)."""
    duration = float(os.environ.get("BENCH_SOAK_SECONDS", "600"))
    rate = float(os.environ.get("BENCH_SOAK_RATE", "10"))
    lab, _ = spine.cold_start(LAB, backend="local")
    try:
        figures = soak(lab, duration, rate)
    finally:
        lab.down(purge=True)
    return figures + curve.curve(runs=int(os.environ.get("BENCH_CURVE_RUNS", "5")))


def _one_line(lines: list[str], most: int = 300) -> str:
    """Findings for one cell of RESULTS.md's table: no newlines, no column bars."""
    text = " ".join("; ".join(lines).split()).replace("|", "/")
    return (text[:most] + " …") if len(text) > most else (text or "none")


def main() -> None:
    """`make bench-soak`: the soak and the curve alone (the whole `make bench` takes long)."""
    from bench import run  # run imports this module

    os.environ.setdefault("LABKIT_LAB", LAB)
    figures = measure()
    run.save(run.SOAK_RESULTS, "local: soak and gap/timer curve", figures)
    curve.draw(figures)
    run.render()


if __name__ == "__main__":
    main()
