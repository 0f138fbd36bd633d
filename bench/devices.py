"""Benchmarks of the device tier: reconnection after a node crash (100 and 1000 devices) and
how much faster a resync gets with four nodes than with one."""

from __future__ import annotations

import dataclasses
import os
import time

from bench.figures import Figure, percentile
from labkit import Cluster
from labkit.devices import jobs
from labkit.topology import DevicesSpec

VICTIM = "node3"  # an app-only node: its crash moves devices and nothing else


def _settle(lab: Cluster, count: int) -> None:
    """`count` devices discovered, balanced, connected; every node up and in every view."""
    lab.recover_all()
    apps = [n.name for n in lab.layout.topology.with_role("app")]
    deadline = time.monotonic() + 120
    while any(v != apps for v in lab.devices.membership().values()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"membership did not converge: {lab.devices.membership()}")
        time.sleep(0.2)
    time.sleep(lab.layout.topology.membership_timeout)  # the coordinator settles on the view
    lab.devices.discover(count)
    lab.devices.rebalance()
    lab.devices.wait_connected(timeout=300)


def reconnect_times(lab: Cluster, count: int, runs: int) -> list[float]:
    """Seconds from the crash of VICTIM until every device is connected again."""
    times = []
    for _ in range(runs):
        _settle(lab, count)
        since = time.time()
        lab.fail(VICTIM, "crash")
        fault = next(e for e in lab.events(since) if e["kind"] == "fault")
        while True:
            st = lab.devices.status()
            if st.get("counts", {}).get(VICTIM) == 0 and st["connected"] == st["total"]:
                break
            time.sleep(0.02)
        times.append(time.time() - fault["at"])
        lab.recover(VICTIM)
    _settle(lab, count)
    return times


def resync_speedup(lab: Cluster, latency_ms: int = 100,
                   runs: int = int(os.environ.get("BENCH_DEVICE_RUNS", "3"))) -> list[Figure]:
    """The median of `runs` resyncs on one node against the median of `runs` on four: one run
    each spread by about ±0.1 of a speed-up near 4 (3.57 to 3.80 on the same code)."""
    _settle(lab, 100)
    lab.devices.set_latency(latency_ms)
    try:
        lab.devices.rebalance(["node1"])
        lab.devices.wait_connected()
        one = percentile([lab.devices.resync()["duration"] for _ in range(runs)], 50)
        lab.devices.rebalance()
        lab.devices.wait_connected()
        four = percentile([lab.devices.resync()["duration"] for _ in range(runs)], 50)
    finally:
        lab.devices.set_latency(lab.layout.topology.devices.latency_ms)
    how = (f"median of {runs} resyncs of 100 devices answering in {latency_ms} ms, job creation "
           f"to last record; all devices on node1 versus 25 on each of 4 nodes ({jobs.WORKERS} "
           "workers per node)")
    return [Figure("resync_100_one_node", one, "s", how),
            Figure("resync_100_four_nodes", four, "s", how),
            Figure("resync_speedup_1_to_4", one / four, "ratio", how)]


def devices(lab: Cluster, runs: int = int(os.environ.get("BENCH_DEVICE_RUNS", "3"))
            ) -> list[Figure]:
    if not lab.layout.topology.devices.count:
        return []
    times = reconnect_times(lab, 100, runs)
    how = (f"{runs} runs: 100 devices on 4 nodes, crash {VICTIM}; from the fault until all 100 "
           f"have a NETCONF session again (membership timeout "
           f"{lab.layout.topology.membership_timeout:g} s)")
    figures = [Figure("devices_reconnect_100_p50", percentile(times, 50), "s", how),
               Figure("devices_reconnect_100_max", max(times), "s", how)]
    figures += resync_speedup(lab)
    figures += thousand(lab.layout.lab + "-1000", runs)
    return figures


def thousand(lab_name: str, runs: int) -> list[Figure]:
    """The same crash with a 1000-device fleet, in a lab of its own."""
    from labkit.topology import Topology

    topo = dataclasses.replace(Topology.default(4), devices=DevicesSpec(count=1000))
    big = Cluster.up(topology=topo, lab=lab_name, timeout=300)
    try:
        t0 = time.monotonic()
        _settle(big, 1000)
        first = time.monotonic() - t0
        times = reconnect_times(big, 1000, runs)
        rss = big.backend.resources().get("lab", {})
    finally:
        big.down(purge=True)
    how = (f"{runs} runs: 1000 devices on 4 nodes, crash {VICTIM}; from the fault until all 1000 "
           "have a NETCONF session again")
    return [Figure("devices_reconnect_1000_p50", percentile(times, 50), "s", how),
            Figure("devices_reconnect_1000_max", max(times), "s", how),
            Figure("devices_first_connect_1000", first, "s",
                   "discover 1000 devices on a fresh lab until every one is connected"),
            Figure("fleet_rss_1000", sum(v for k, v in rss.items() if k.startswith("fleet"))
                   / 2**20, "MiB", "resident memory of the fleet process(es) serving 1000 "
                                   "devices with their sessions")]


BENCHMARKS = [devices]
