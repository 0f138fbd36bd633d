"""The links keeper of a netns lab: makes late links late (`labkit link A B --delay 50ms
--jitter 10ms`) and switches flapping links on time (labkit.backends.flapper), in one process.

tc's netem would hold frames back in the kernel; this machine's kernel has none. The switch
queues each IPv4 frame of a late link instead (network.apply_delays: iptables' NFQUEUE target,
one queue per direction of each link), and this program, a program of the netns lab's lab-wide
supervisor running inside the switch's namespace, gives each queued frame its verdict when its
time has come: the link's delay, give or take up to its jitter (uniformly, so with jitter frames
can overtake each other, as netem's do). A frame is never copied to this program, only its id.

What it does not do, said plainly: ARP is not delayed (a late link still resolves addresses on
time); a busy machine adds its own lateness to the delayer's (a few milliseconds, more when both
cores are saturated); and while the delayer is not running (being restarted), the queues let
frames pass on time rather than drop them.

Run as `ip netns exec <switch> python -m labkit.backends.netns.delayer --lab LAB` (the lab-wide
supervisor's `links` program).
"""

from __future__ import annotations

import argparse
import heapq
import random
import select
import signal
import time

from labkit.backends import backend_for
from labkit.backends.flapper import Flapper
from labkit.backends.netns import network
from labkit.backends.netns.nfqueue import Queues
from labkit.layout import Layout
from labkit.links import read

LOOK = 0.5  #: seconds between looks at the recorded link faults
#: a frame on a queue the record does not call late yet: the rule came first (the record is
#: written just after the rules), so look again this often, for at most GRACE, before letting it go
RELOOK, GRACE = 0.02, 1.0


def lateness(layout: Layout) -> dict[int, tuple[float, float]]:
    """(delay, jitter) of each late link direction, by its queue, from the record."""
    return {network.queue_of(layout, f.src, f.dst): (f.delay, f.jitter)
            for f in read(layout.paths.links) if f.delay}


class Delayer:
    """Frames held back, each with the time it may go."""

    def __init__(self, queues: Queues, rng: random.Random | None = None) -> None:
        self.queues = queues
        self.rng = rng or random.Random()
        self.held: list[tuple[float, int, int, int]] = []  # (due, order, queue, packet id)
        self.unknown: list[tuple[float, int, int]] = []  # (arrived, queue, packet id)
        self.order = 0
        self.late: dict[int, tuple[float, float]] = {}

    def take(self, now: float) -> None:
        """Give every frame that arrived its time. A frame on a queue not (yet) known as late
        waits for the record to say (`settle`): a rule exists only for a late link."""
        for queue, packet in self.queues.receive():
            if queue in self.late:
                self._hold(now, queue, packet)
            else:
                self.unknown.append((now, queue, packet))

    def settle(self, now: float) -> None:
        """After a fresh look at the record: frames of links now known as late are held from
        their arrival; those still unknown after GRACE go (their rule outlived its record)."""
        waiting, self.unknown = self.unknown, []
        for arrived, queue, packet in waiting:
            if queue in self.late:
                self._hold(arrived, queue, packet)
            elif now - arrived >= GRACE:
                self.queues.release(queue, packet)
            else:
                self.unknown.append((arrived, queue, packet))

    def _hold(self, arrived: float, queue: int, packet: int) -> None:
        delay, jitter = self.late[queue]
        due = arrived + max(0.0, delay + self.rng.uniform(-jitter, jitter))
        self.order += 1
        heapq.heappush(self.held, (due, self.order, queue, packet))

    def release_due(self, now: float) -> None:
        while self.held and self.held[0][0] <= now:
            _due, _order, queue, packet = heapq.heappop(self.held)
            self.queues.release(queue, packet)

    def release_all(self) -> None:
        self.release_due(float("inf"))
        for _arrived, queue, packet in self.unknown:
            self.queues.release(queue, packet)
        self.unknown = []

    def next_due(self) -> float | None:
        return self.held[0][0] if self.held else None


def run(layout: Layout) -> None:
    queues = Queues(sorted(network.link_queues(layout)))
    delayer, flapper = Delayer(queues), Flapper(backend_for(layout))
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.clear())
    looked, flap_in = 0.0, None
    while running:
        now = time.monotonic()
        if now - looked >= LOOK or (flap_in is not None and now - looked >= flap_in):
            delayer.late = lateness(layout)
            flap_in, looked = flapper.tick(), now
        elif delayer.unknown:
            delayer.late = lateness(layout)
        delayer.settle(now)
        due = delayer.next_due()
        waits = [LOOK - (now - looked), *([due - now] if due is not None else []),
                 *([flap_in - (now - looked)] if flap_in is not None else []),
                 *([RELOOK] if delayer.unknown else [])]
        wait = max(0.0, min(waits))
        with_frames, _w, _x = select.select([queues], [], [], wait)
        now = time.monotonic()
        if with_frames:  # a frame on a queue not yet known as late: the loop's next turn reads
            delayer.take(now)  # the record again at once (`elif delayer.unknown` above)
        delayer.release_due(now)
    delayer.release_all()  # nothing stays held when the lab stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    run(Layout.load(parser.parse_args().lab))


if __name__ == "__main__":
    main()
