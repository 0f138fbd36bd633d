"""`make bench`: start a bench lab, measure it, write bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from bench import cassandra, databases, devices, spine
from bench.figures import Figure
from labkit.backends.compose.images import engine_answers

HERE = Path(__file__).parent
LAB = "bench"
RESULTS = HERE / "results.json"
COMPOSE_RESULTS = HERE / "results-compose.json"


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
        for tier in (databases.BENCHMARKS + devices.BENCHMARKS + cassandra.BENCHMARKS):
            figures += tier(lab)
    finally:
        lab.down(purge=True)
    save(RESULTS, "local", figures)
    if engine_answers():
        from bench import compose

        compose.main()  # writes its own file and renders RESULTS.md again with both
    else:
        print("no Docker engine answers: the compose backend is not measured "
              "(`make compose-setup`, then `make bench-compose`)")
    render()


def save(path: Path, backend: str, figures: list[Figure]) -> None:
    """One backend's figures, with when and where they were measured."""
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "system": platform.platform()},
              "backend": backend,
              "figures": {f.name: f.to_dict() for f in figures}}
    path.write_text(json.dumps(result, indent=2) + "\n")


def render() -> str:
    """bench/RESULTS.md: one table per backend measured, from the JSON files."""
    lines = ["# Benchmark results", "",
             "Written by `make bench` (local, and compose when a Docker engine answers) and "
             "`make bench-compose`; `make bench-check` holds the figures to bench/targets.toml."]
    for path in (RESULTS, COMPOSE_RESULTS):
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        cpus = result.get("machine", {}).get("cpus", "?")
        lines += ["", f"## backend `{result['backend']}`", "",
                  f"Measured {result['when']} on {cpus} cores.", "",
                  "| figure | value | unit | how it was measured |", "|---|---|---|---|"]
        for f in result["figures"].values():
            value = "n/a" if f["value"] is None else f"{f['value']:.3g}"
            lines.append(f"| {f['name']} | {value} | {f['unit']} | {f['how']} |")
    text = "\n".join(lines) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
