"""The flapper: keeps each flapping link's rules in step with the clock.

A flapping link (`labkit link A B --flap 10s`) is cut for the first half of each period and
carries for the second (`labkit.links.in_force`). The rules cannot switch themselves, so a
program asks `Flapper.tick` at least twice a second, and at each half-period boundary of any
flapping link recorded in links.json it puts the rules of that moment in force: on netns the
links keeper (labkit.backends.netns.delayer) for the whole switch, on compose each node
container's `links` program for that container's own input rules
(labkit.backends.compose.delayer). Both take the same lock as `labkit cut / link / heal`, and
read the record under it, so a change made meanwhile is never undone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from labkit.links import LinkFault, next_change


class Flapper:
    def __init__(self, links: Callable[[], list[LinkFault]], switch: Callable[[], None]) -> None:
        """`links` reads the recorded faults; `switch` puts the rules they need now in force."""
        self.links, self.switch = links, switch
        self.due: float | None = None  #: the wall-clock time of the next switch, if any

    def tick(self) -> float | None:
        """Switch the rules if a half-period has ended; returns the seconds until the next
        switch (None: nothing flaps)."""
        if self.due is not None and time.time() >= self.due:
            self.switch()
        self.due = next_change(self.links(), time.time())
        return None if self.due is None else max(0.0, self.due - time.time())
