"""Benchmarks of the data tier: replica lag under load, failover time, acknowledged writes lost."""

from __future__ import annotations

import time
from typing import Any

from bench.figures import Figure, percentile
from labkit import Cluster


def _lag_probe(tier: Any, probes: int = 40) -> list[float]:
    """Write a marker row on the active, time until the standby's copy shows it."""
    lags = []
    standby = tier.standby()
    load = tier.write_load(rate=50, client="bench-load")
    try:
        for i in range(probes):
            writer = tier.connect()
            reader = tier.connect_to(standby)
            try:
                marker = int(time.time() * 1e6) + i
                t0 = time.monotonic()
                with writer.cursor() as cur:
                    cur.execute("INSERT INTO writes (client, seq, created) VALUES "
                                "(%s, %s, %s)", ("bench-probe", marker, time.time()))
                writer.commit()
                with reader.cursor() as cur:
                    while time.monotonic() - t0 < 10:
                        cur.execute("SELECT 1 FROM writes WHERE client = %s AND seq = %s",
                                    ("bench-probe", marker))
                        if cur.fetchone():
                            break
                        time.sleep(0.002)
                lags.append(time.monotonic() - t0)
            finally:
                writer.close()
                reader.close()
    finally:
        load.stop()
    return lags


def _failover(lab: Cluster, tier: Any, event_kind: str, runs: int) -> tuple[list[float], int]:
    times, lost = [], 0
    for _ in range(runs):
        active = tier.active()
        load = tier.write_load(rate=50, client=f"bench-fo-{int(time.time())}")
        time.sleep(1.5)
        since = time.time()
        lab.fail(active, "crash")
        deadline = time.monotonic() + 60
        promoted = None
        while time.monotonic() < deadline and promoted is None:
            promoted = next((e for e in lab.events(since) if e["kind"] == event_kind), None)
            time.sleep(0.1)
        time.sleep(1.5)
        load.stop()
        lost += len(load.missing(tier.connect()))
        if promoted:
            times.append(promoted["promoted"] - since)
        lab.recover(active)
        time.sleep(3)
    return times, lost


def databases(lab: Cluster, runs: int = 5) -> list[Figure]:
    figures = []
    for name, tier, kind in (("mysql", lab.mysql, "mysql_failover"),
                             ("postgres", lab.postgres, "postgres_failover")):
        if not tier.nodes():
            continue
        lags = _lag_probe(tier)
        how = ("40 marker rows written on the active under a 50 rows/s load; time until the "
               "standby's copy shows each (poll every 2 ms)")
        figures += [Figure(f"{name}_replica_lag_p50", percentile(lags, 50), "s", how),
                    Figure(f"{name}_replica_lag_p99", percentile(lags, 99), "s", how)]
        times, lost = _failover(lab, tier, kind, runs)
        how = (f"{runs} runs: crash the active under a 50 rows/s write load; time from the fault "
               "to the standby's promotion event")
        figures += [Figure(f"{name}_failover_p50", percentile(times, 50), "s", how),
                    Figure(f"{name}_failover_p99", percentile(times, 99), "s", how),
                    Figure(f"{name}_acked_writes_lost", float(lost), "rows",
                           f"acknowledged rows missing on the new active, summed over {runs} runs")]
    return figures


BENCHMARKS = [databases]
