"""`make bench`: start a bench lab, measure it, write bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from bench import spine
from bench.figures import Figure

HERE = Path(__file__).parent
LAB = "bench"


def main() -> None:
    os.environ.setdefault("LABKIT_LAB", LAB)
    figures: list[Figure] = []
    lab, started = spine.cold_start(LAB)
    figures += started
    try:
        figures += spine.memory(lab)
        figures += spine.fairness(lab)
        figures += spine.throughput(lab)
        figures += spine.vip_gap(lab, runs=int(os.environ.get("BENCH_RUNS", "20")))
        for extra in _tier_benchmarks():
            figures += extra(lab)
    finally:
        lab.down(purge=True)
    write(figures)


def _tier_benchmarks() -> list:
    """Benchmarks of the tiers beyond the spine, added by their modules when present."""
    found = []
    for module in ("bench.databases", "bench.devices", "bench.cassandra"):
        try:
            mod = __import__(module, fromlist=["BENCHMARKS"])
        except ImportError:
            continue
        found += getattr(mod, "BENCHMARKS", [])
    return found


def write(figures: list[Figure]) -> None:
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "system": platform.platform()},
              "backend": "local",
              "figures": {f.name: f.to_dict() for f in figures}}
    (HERE / "results.json").write_text(json.dumps(result, indent=2))
    lines = ["# Benchmark results", "", f"Measured {result['when']} on "
             f"{result['machine']['cpus']} cores, backend `local`.", "",
             "| figure | value | unit | how it was measured |", "|---|---|---|---|"]
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:.3g}"
        lines.append(f"| {f.name} | {value} | {f.unit} | {f.how} |")
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
