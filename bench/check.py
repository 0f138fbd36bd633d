"""`make bench-check`: compare bench/results.json with the targets in bench/targets.toml."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tomllib

HERE = Path(__file__).parent


def main() -> int:
    results = json.loads((HERE / "results.json").read_text())["figures"]
    targets = tomllib.loads((HERE / "targets.toml").read_text())
    failed = 0
    for name, bound in targets.items():
        fig = results.get(name)
        if fig is None or fig["value"] is None:
            print(f"MISSING {name}: not measured")
            failed += 1
            continue
        value = fig["value"]
        ok = ("max" not in bound or value <= bound["max"]) and \
             ("min" not in bound or value >= bound["min"])
        print(f"{'ok     ' if ok else 'MISSED '} {name} = {value:.3g} {fig['unit']} "
              f"(target {bound})")
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
