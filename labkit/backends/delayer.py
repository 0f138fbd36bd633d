"""The delayer: holds back the frames of late links (`labkit link A B --delay 50ms --jitter
10ms`), for any backend that queues them with iptables' NFQUEUE target.

tc's netem would hold frames back in the kernel; this machine's kernel has none. A backend with a
real network queues each IPv4 frame of a late link instead (one queue per direction of each link,
numbered by `queue_of`, so a frame's link is known from its queue alone), and a program of its
own (netns: the links keeper in the switch namespace, labkit.backends.netns.delayer; compose: one
in each node container for the links arriving there, labkit.backends.compose.delayer) gives each
queued frame its verdict when its time has come: the link's delay, give or take up to its jitter
(uniformly, so with jitter frames can overtake each other, as netem's do). A frame is never
copied to the program, only its id (labkit.backends.nfqueue).

What it does not do, said plainly: ARP is not delayed (a late link still resolves addresses on
time); a busy machine adds its own lateness to the delayer's (a few milliseconds, more when both
cores are saturated); and while the delayer is not running (being restarted), the queues let
frames pass on time rather than drop them (`--queue-bypass`).
"""

from __future__ import annotations

import heapq
import random
import select
import signal
import time
from collections.abc import Callable

from labkit.backends.nfqueue import Queues
from labkit.layout import Layout
from labkit.links import LinkFault

LOOK = 0.5  #: seconds between looks at the recorded link faults
#: a frame on a queue the record does not call late yet: the rule came first (the record is
#: written just after the rules), so look again this often, for at most GRACE, before letting it go
RELOOK, GRACE = 0.02, 1.0
DELAY_CHAIN = "LABKIT-DELAY"  #: the iptables chain of a lab's NFQUEUE rules
QUEUE_BASE = 1000  #: NFQUEUE numbers of a lab's links: QUEUE_BASE + 64 × src index + dst index


def queue_of(layout: Layout, src: str, dst: str) -> int:
    """The NFQUEUE that holds the frames from `src` to `dst` (one per direction of each link,
    so the delayer knows a frame's link from its queue alone)."""
    names = [n.name for n in layout.nodes]
    return QUEUE_BASE + 64 * names.index(src) + names.index(dst)


def queue_rule(layout: Layout, fault: LinkFault, match: str) -> str:
    """The iptables rule that queues a late direction's frames, picked out by `match` (a
    switch's ports on netns, the sender's address in a container on compose), on its own queue.
    `--queue-bypass`: were the delayer not running, the frames would pass on time, not vanish."""
    return (f"-A {DELAY_CHAIN} {match} -j NFQUEUE --queue-num "
            f"{queue_of(layout, fault.src, fault.dst)} --queue-bypass")


def restore_script(lines: list[str]) -> str:
    """iptables-restore's input (with --noflush) that declares the chain and applies `lines` in
    one transaction."""
    return "\n".join(["*filter", f":{DELAY_CHAIN} - [0:0]", *lines, "COMMIT", ""])


def link_queues(layout: Layout) -> dict[int, tuple[str, str]]:
    """Every direction of every link, by its queue number."""
    names = [n.name for n in layout.nodes]
    return {queue_of(layout, a, b): (a, b) for a in names for b in names if a != b}


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


#: (delay, jitter) of each late link direction, by its queue: read afresh at each look
Lateness = Callable[[], dict[int, tuple[float, float]]]
#: called at each look: seconds until it wants to be called again (None: no hurry)
Ticker = Callable[[], "float | None"]


def run(queues: Queues, lateness: Lateness, tick: Ticker = lambda: None) -> None:
    """Hold back the frames on `queues` until SIGTERM, then let every held frame go."""
    delayer = Delayer(queues)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.clear())
    looked, tick_in = 0.0, None
    while running:
        now = time.monotonic()
        if now - looked >= LOOK or (tick_in is not None and now - looked >= tick_in):
            delayer.late = lateness()
            tick_in, looked = tick(), now
        elif delayer.unknown:
            delayer.late = lateness()
        delayer.settle(now)
        due = delayer.next_due()
        waits = [LOOK - (now - looked), *([due - now] if due is not None else []),
                 *([tick_in - (now - looked)] if tick_in is not None else []),
                 *([RELOOK] if delayer.unknown else [])]
        wait = max(0.0, min(waits))
        with_frames, _w, _x = select.select([queues], [], [], wait)
        now = time.monotonic()
        if with_frames:  # a frame on a queue not yet known as late: the loop's next turn reads
            delayer.take(now)  # the record again at once (`elif delayer.unknown` above)
        delayer.release_due(now)
    delayer.release_all()  # nothing stays held when the lab stops
