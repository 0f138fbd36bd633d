"""`make bench-compose`: the compose backend measured on containers.

Image build time (cached: what every `labkit up --backend compose` pays), start-up of the whole
lab, and the client-visible VIP failover gap when keepalived's master container is killed or
paused, measured the same way as the local backend's (bench.spine.vip_gap). Writes
bench/results-compose.json and prints a table. The cold image build is timed by
`make compose-setup` on a machine without the images (see compose/README.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from bench import spine
from bench.figures import Figure
from labkit import Cluster, LabError
from labkit.backends.compose import images

HERE = Path(__file__).parent
LAB = "bench-compose"


def build(progress=lambda _m: None) -> list[Figure]:
    times = images.ensure_images(progress)
    return [Figure("compose_image_cached_build", times["node_s"], "s",
                   "docker build of compose/node.Dockerfile with every layer cached")]


def start() -> tuple[Cluster, list[Figure]]:
    with contextlib.suppress(LabError):
        Cluster.attach(LAB).down(purge=True)
    t0 = time.monotonic()
    lab = Cluster.up(lab=LAB, backend="compose", timeout=300)
    return lab, [Figure("compose_cold_up_total", time.monotonic() - t0, "s",
                        "`labkit up --backend compose` from no containers and no data until "
                        "the VIP answered (images already built)")]


def main() -> None:
    figures = build()
    lab, started = start()
    figures += started
    try:
        for f in spine.vip_gap(lab, runs=int(os.environ.get("BENCH_RUNS", "10"))):
            figures.append(Figure("compose_" + f.name, f.value, f.unit,
                                  f.how + " (keepalived VRRP on containers: kill = docker kill, "
                                  "freeze = docker pause)"))
        figures += [Figure("compose_" + f.name, f.value, f.unit, f.how)
                    for f in spine.fairness(lab)]
    finally:
        lab.down(purge=True)
    out = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "backend": "compose",
           "figures": {f.name: f.to_dict() for f in figures}}
    (HERE / "results-compose.json").write_text(json.dumps(out, indent=2) + "\n")
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:.3g}"
        print(f"{f.name:40} {value:>8} {f.unit:6} {f.how}")


if __name__ == "__main__":
    main()
