"""`make bench`: start a bench lab, measure it, write bench/results.json and bench/RESULTS.md.

Then, in the same run, the false-failover soak and the gap/timer curve on labs of their own
(bench/soak.py, bench/curve.py), the spine on a netns lab (bench/netns.py) where this machine
can run one, and the compose backend (bench/compose.py) where a Docker engine answers."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import tomllib

from bench import cassandra, check, curve, databases, devices, soak, spine
from bench.figures import Figure
from labkit.backends.compose.images import engine_answers
from labkit.backends.netns import network

HERE = Path(__file__).parent
LAB = "bench"
RESULTS = HERE / "results.json"
NETNS_RESULTS = HERE / "results-netns.json"
COMPOSE_RESULTS = HERE / "results-compose.json"
SOAK_RESULTS = HERE / "results-soak.json"


def main() -> None:
    os.environ.setdefault("LABKIT_LAB", LAB)
    figures: list[Figure] = []
    lab, started = spine.cold_start(LAB, backend="local")
    figures += started
    try:
        figures += spine.memory(lab)
        lab, warm = spine.warm_start(lab)
        figures += warm
        figures += spine.fairness(lab)
        figures += spine.throughput(lab)
        figures += spine.vip_gap(lab, runs=int(os.environ.get("BENCH_RUNS", "20")))
        for tier in (databases.BENCHMARKS + devices.BENCHMARKS + cassandra.BENCHMARKS):
            figures += tier(lab)
    finally:
        lab.down(purge=True)
    save(RESULTS, "local", figures)
    soaked = soak.measure()  # no faults under a CPU hog, then the VIP gap per advert interval
    save(SOAK_RESULTS, "local: soak and gap/timer curve", soaked)
    curve.draw(soaked)
    why = network.unavailable()
    if why is None:
        from bench import netns

        netns.main()  # the spine again on a netns lab, beside these figures
    else:
        print(f"the netns backend is not measured: {why} (`make bench-netns` as root)")
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
             "Written by `make bench` (local; netns as root; compose when a Docker engine "
             "answers), `make bench-netns` and `make bench-compose`; `make bench-check` holds "
             "the figures to bench/targets.toml."]
    lines += side_by_side()
    for path in (RESULTS, SOAK_RESULTS, NETNS_RESULTS, COMPOSE_RESULTS):
        if not path.exists():
            continue
        result = json.loads(path.read_text())
        cpus = result.get("machine", {}).get("cpus", "?")
        lines += ["", f"## backend `{result['backend']}`", "",
                  f"Measured {result['when']} on {cpus} cores.", "",
                  "| figure | value | unit | how it was measured |", "|---|---|---|---|"]
        for f in result["figures"].values():
            lines.append(f"| {f['name']} | {_fmt(f['value'])} | {f['unit']} | {f['how']} |")
        if path == SOAK_RESULTS:
            lines += gap_curve(result["figures"])
    text = "\n".join(lines) + "\n"
    (HERE / "RESULTS.md").write_text(text)
    print(text)
    return text


def side_by_side() -> list[str]:
    """The "netns vs local" table: each netns figure beside the local one, their ratio and
    its target (bench/targets.toml), when both backends were measured."""
    if not (RESULTS.exists() and NETNS_RESULTS.exists()):
        return []
    local, netns = (json.loads(p.read_text()) for p in (RESULTS, NETNS_RESULTS))
    targets = tomllib.loads((HERE / "targets.toml").read_text())
    lines = ["", "## netns vs local", "",
             f"local measured {local['when']}, netns {netns['when']}: the same figure of "
             "bench/spine.py on each backend, netns ÷ local (issue 13: within 10 %).", "",
             "| figure | local | netns | unit | netns ÷ local | target |",
             "|---|---|---|---|---|---|"]
    for name, fig in netns["figures"].items():
        figure = name.removeprefix("netns_")
        theirs = local["figures"].get(figure)
        if theirs is None:
            continue
        r = check.ratio(figure, local["figures"], netns["figures"])
        bound = targets.get(check.RATIO + figure)
        target = "" if bound is None else " ".join(
            f"≤ {v:g}" if k == "max" else f"≥ {v:g}" for k, v in bound.items())
        if bound is not None and r is not None:
            target += " ✔" if check.within(r, bound) else " ✘ missed"
        lines.append(f"| {figure} | {_fmt(theirs['value'])} | {_fmt(fig['value'])} | "
                     f"{fig['unit']} | {_fmt(r)} | {target} |")
    return lines


def gap_curve(figures: dict) -> list[str]:
    """The gap/timer curve: its table and the SVG bench/curve.py drew from the same figures."""
    pts = curve.points(Figure(**f) for f in figures.values())
    if not pts:
        return []
    lines = ["", "### VIP gap against the VRRP advert interval", "",
             f"![VIP gap (owner crashed) against the advert interval]({curve.SVG.name})", "",
             "| advert interval | gap p50 | gap p99 | master-down (3 × advert + skew) "
             "| VRRP takeover p50 |", "|---|---|---|---|---|"]
    lines += [f"| {a:g} s | " + " | ".join(f"{_fmt(v[s])} s" if s in v else "n/a"
                                   for s, *_ in curve.SERIES)
              + " |" for a, v in pts]
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


if __name__ == "__main__":
    main()
