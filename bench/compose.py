"""`make bench-compose`: the compose backend measured on containers.

Image build time (cached: what every `labkit up --backend compose` pays), start-up of the whole
lab, and the client-visible VIP failover gap when keepalived's master container is killed or
paused (polling only the VIP; see `vip_gap`). Writes bench/results-compose.json and renders
bench/RESULTS.md again (bench.run.render). The cold image build is timed by
`make compose-setup` on a machine without the images (see compose/README.md).
"""

from __future__ import annotations

import contextlib
import os
import time

from bench import run, spine
from bench.figures import Figure, percentile
from labkit import Cluster, LabError
from labkit.backends.compose import images

LAB = "bench-compose"


def build(progress=lambda _m: None) -> list[Figure]:
    times = images.ensure_images(progress)
    return [Figure("compose_image_build", times["node_s"], "s",
                   f"docker build of compose/node.Dockerfile: {times['steps_cached']:.0f} "
                   f"steps from the cache, {times['steps_run']:.0f} run (what changed)")]


def start() -> tuple[Cluster, list[Figure]]:
    with contextlib.suppress(LabError):
        Cluster.attach(LAB).down(purge=True)
    t0 = time.monotonic()
    lab = Cluster.up(lab=LAB, backend="compose", timeout=300)
    return lab, [Figure("compose_cold_up_total", time.monotonic() - t0, "s",
                        "`labkit up --backend compose` from no containers and no data until "
                        "the VIP answered (images already built)")]


def vip_gap(lab: Cluster, runs: int) -> list[Figure]:
    """Client-visible VRRP failover gap on containers (`spine.gap_once`: from the fault until a
    request through the VIP is answered by the other LB node's Apache), plus how long
    keepalived took to become master (its notify event)."""
    figures = []
    for mode in ("crash", "freeze"):
        gaps, detect = [], []
        for _ in range(runs):
            since = time.time()
            gap = spine.gap_once(lab, mode)
            gaps.append(gap)
            masters = [e["ts"] for e in lab.events(since)
                       if e["kind"] == "vrrp" and e.get("node") == gap.node
                       and e.get("state") == "master"]
            if masters:
                detect.append(masters[0] - since)
        fault = (f"{mode} (docker {'kill' if mode == 'crash' else 'pause'}) the keepalived "
                 "master's container")
        figures += [*spine.gap_figures("compose_", mode, gaps, fault),
                    Figure(f"compose_vrrp_takeover_{mode}_p50", percentile(detect, 50), "s",
                           f"{runs} runs: from the fault to keepalived's MASTER notify on the "
                           "backup (advert 0.2 s: master-down interval 3 x 0.2 s + skew)")]
    return figures


def main() -> None:
    figures = build()
    lab, started = start()
    figures += started
    try:
        figures += vip_gap(lab, runs=int(os.environ.get("BENCH_RUNS", "20")))
        figures += [Figure("compose_" + f.name, f.value, f.unit, f.how)
                    for f in spine.fairness(lab)]
    finally:
        lab.down(purge=True)
    run.save(run.COMPOSE_RESULTS, "compose", figures)
    run.render()

if __name__ == "__main__":
    main()
