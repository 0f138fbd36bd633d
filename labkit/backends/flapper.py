"""The flapper: keeps each flapping link's rules in step with the clock.

A flapping link (`labkit link A B --flap 10s`) is cut for the first half of each period and
carries for the second (`labkit.links.in_force`). The rules cannot switch themselves, so this
program of the lab-wide supervisor sleeps until the next half-period boundary of any flapping
link recorded in links.json and then puts the rules of that moment in force. It takes the same
lock as `labkit cut / link / heal`, and reads the record under it, so a change made meanwhile is
never undone. With nothing flapping it only looks at the record twice a second.

Run as `python -m labkit.backends.flapper --lab LAB`.
"""

from __future__ import annotations

import argparse
import signal
import time

from labkit.backends import backend_for
from labkit.layout import Layout
from labkit.links import next_change

LOOK = 0.5  #: seconds between looks at the record


def run(layout: Layout) -> None:
    backend = backend_for(layout)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.clear())
    due: float | None = None
    while running:
        now = time.time()
        if due is not None and now >= due:
            backend.keep_flapping()
        due = next_change(backend.links(), time.time())
        time.sleep(LOOK if due is None else max(0.0, min(LOOK, due - time.time())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    run(Layout.load(parser.parse_args().lab))


if __name__ == "__main__":
    main()
