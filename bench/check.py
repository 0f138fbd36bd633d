"""`make bench-check`: compare the bench results with the targets in bench/targets.toml.

A target names a figure of bench/results.json (the local backend), of
bench/results-soak.json (the false-failover soak and the gap/timer curve, also local) or of
bench/results-compose.json (the compose backend's figures, named `compose_…`), or is a ratio
`netns_over_local_<figure>`: the netns backend's `netns_<figure>` (bench/results-netns.json)
divided by the local `<figure>` (bench/results.json), so the netns mode is held to the
loopback mode's speed figure by figure.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import tomllib

HERE = Path(__file__).parent
RATIO = "netns_over_local_"


def ratio(figure: str, local: dict[str, Any], netns: dict[str, Any]) -> float | None:
    """netns ÷ local for one figure (`figures` dicts of the two JSON files); None if either
    is missing or the local one is zero."""
    mine, theirs = netns.get("netns_" + figure), local.get(figure)
    if not mine or not theirs or mine["value"] is None or not theirs["value"]:
        return None
    return mine["value"] / theirs["value"]


def measured(name: str, local: dict[str, Any], netns: dict[str, Any]
             ) -> tuple[float | None, str]:
    """A target's value and unit: a local figure, or a netns-over-local ratio."""
    if name.startswith(RATIO):
        return ratio(name.removeprefix(RATIO), local, netns), "ratio"
    fig = local.get(name)
    return (None, "") if fig is None else (fig["value"], fig["unit"])


def within(value: float, bound: dict[str, float]) -> bool:
    return ("max" not in bound or value <= bound["max"]) and \
           ("min" not in bound or value >= bound["min"])


def check(local: dict[str, Any], netns: dict[str, Any], targets: dict[str, Any]) -> int:
    """Print one line per target; the number of targets missed or not measured."""
    failed = 0
    for name, bound in targets.items():
        value, unit = measured(name, local, netns)
        if value is None or math.isnan(value):  # not measured, or ab answered nothing
            print(f"MISSING {name}: not measured")
            failed += 1
            continue
        ok = within(value, bound)
        print(f"{'ok     ' if ok else 'MISSED '} {name} = {value:.3g} {unit} (target {bound})")
        failed += not ok
    return failed


def load(path: Path) -> dict[str, Any]:
    """A results file's figures and when they were measured ({} if it was never written)."""
    if not path.exists():
        print(f"note: {path.name} was not written (its backend was not measured)")
        return {}
    result = json.loads(path.read_text())
    print(f"{path.name}: backend {result['backend']}, measured {result['when']}")
    return result["figures"]


def main(here: Path = HERE) -> int:
    local = (load(here / "results.json") | load(here / "results-soak.json")
             | load(here / "results-compose.json"))
    netns = load(here / "results-netns.json")
    targets = tomllib.loads((here / "targets.toml").read_text())
    return 1 if check(local, netns, targets) else 0


if __name__ == "__main__":
    sys.exit(main())
