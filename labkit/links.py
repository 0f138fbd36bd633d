"""Faults on links between nodes, as data: a cut (one way or both), a lossy or slow link, and a
partition (every link across the split cut both ways).

A link fault names two nodes and a direction. It is pure data here, checked before anything is
touched (an unknown node, a node paired with itself, a loss of 120 % are one clear error and
change nothing); a backend that has a real network between its nodes applies it (the netns
backend: nftables rules on the lab's switch; the compose backend: nftables rules in each receiving
container), one that has not refuses and says why.

Loss and rate are what nftables can do on a bridge: `numgen random` drops that share of the
frames, `limit rate over` drops what exceeds the rate. Delay and jitter would be tc's netem, which
this machine's kernel lacks; the netns and compose backends delay with the kernel's NFQUEUE
instead (the switch, or the receiving container, queues each IPv4 frame of the link and the lab's
delayer releases it when its time has come, labkit.backends.delayer). Backends that cannot delay
refuse plainly.

A flapping link (`flap`, a period in seconds) is cut for the first half of each period and
carries for the second, over and over, on the wall clock: `in_force(faults, now)` is the set of
rules that must hold at `now`, and the backend's flapper rewrites them at each `next_change`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from labkit.errors import LabError

_LOSS = re.compile(r"^(\d+(?:\.\d+)?)%?$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(kbit|mbit|gbit|bit)$", re.IGNORECASE)
_RATE_UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}
_PERIOD = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")
FLAP_LIMITS = (1.0, 3600.0)  #: shortest and longest flap period, seconds
DELAY_LIMIT = 10.0  #: the longest delay (and jitter) a link takes, seconds


@dataclass(frozen=True)
class LinkFault:
    """Frames from `src` to `dst` are dropped (`cut`), or a share of them (`loss` in %), or
    whatever exceeds `rate` (bits per second), or all of them half the time (`flap`: the period in
    seconds, cut first); or they arrive late (`delay` seconds, give or take up to `jitter`)."""

    src: str
    dst: str
    cut: bool = False
    loss: float = 0.0
    rate: int = 0
    flap: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0

    def describe(self) -> str:
        if self.flap:
            return (f"{self.src} → {self.dst}: flapping, cut {self.flap / 2:g}s then up "
                    f"{self.flap / 2:g}s, over and over")
        if self.cut:
            return f"{self.src} → {self.dst}: cut"
        parts = ([f"{self.loss:g}% loss"] if self.loss else []) + \
            ([f"at most {human_rate(self.rate)}"] if self.rate else []) + \
            ([f"{human_seconds(self.delay)} late" +
              (f" ± {human_seconds(self.jitter)}" if self.jitter else "")] if self.delay else [])
        return f"{self.src} → {self.dst}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"what": self.describe()}


@contextlib.contextmanager
def locked(lock: Path) -> Iterator[None]:
    """Hold the lab's link lock (every change of the rules or the record, from the host or from
    a container sharing the run directory, takes it: flock works across them, one kernel)."""
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def read(path: Path) -> list[LinkFault]:
    """The link faults recorded in `path` (the run directory's links.json); none if absent."""
    try:
        return [LinkFault(**f) for f in json.loads(path.read_text())]
    except (FileNotFoundError, ValueError, TypeError):
        return []


def nft_rules(fault: LinkFault, match: str) -> list[str]:
    """The nftables rules for one direction of one link, given the `match` that picks its
    frames out (a switch's ports on netns, a source address in a container on compose)."""
    tag = f"{fault.src}>{fault.dst}"
    if fault.cut:
        return [f'{match} counter drop comment "{tag} cut"']
    rules = []
    if fault.loss:
        rules.append(f"{match} numgen random mod 10000 < {round(fault.loss * 100)} counter drop "
                     f'comment "{tag} loss"')
    if fault.rate:
        rules.append(f"{match} limit rate over {max(1, fault.rate // 8)} bytes/second counter "
                     f'drop comment "{tag} rate"')
    return rules


def parse_loss(text: str) -> float:
    """'5%' or '5' → 5.0; between 0 and 100."""
    m = _LOSS.match(text.strip())
    if not m or not 0 < float(m.group(1)) <= 100:
        raise LabError(f"loss {text!r} is not a share of frames",
                       "give a percentage above 0 and at most 100, e.g. --loss 5%")
    return float(m.group(1))


def parse_rate(text: str) -> int:
    """'1mbit' → 1_000_000 bits per second (tc's units: bit, kbit, mbit, gbit)."""
    m = _RATE.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise LabError(f"rate {text!r} is not a bit rate", "e.g. --rate 1mbit or --rate 500kbit")
    return int(float(m.group(1)) * _RATE_UNITS[m.group(2).lower()])


def parse_delay(text: str, what: str = "delay") -> float:
    """'50ms' or '0.05s' → seconds, at most DELAY_LIMIT. The unit is required: tc reads a
    bare number as microseconds, most people as milliseconds."""
    m = _PERIOD.match(text.strip())
    seconds = float(m.group(1)) / (1 if m.group(2) == "s" else 1000) if m and m.group(2) else -1.0
    if not 0 < seconds <= DELAY_LIMIT:
        raise LabError(f"{what} {text!r} is not a time above 0 and up to {DELAY_LIMIT:g} s",
                       f"e.g. --{what} 50ms (or 0.05s)")
    return seconds


def parse_late(delay: str | None, jitter: str | None) -> tuple[float, float]:
    """A late link's delay and jitter in seconds, checked together (the CLI's `link` and a
    topology's `links:` both come here): jitter varies a delay, and is at most that delay."""
    if jitter and not delay:
        raise LabError("jitter varies a delay, and no delay is given",
                       "give a delay with it, e.g. --delay 50ms --jitter 10ms")
    late = parse_delay(delay) if delay else 0.0
    spread = parse_delay(jitter, "jitter") if jitter else 0.0
    if spread > late:
        raise LabError(f"jitter {jitter} is more than the delay {delay}",
                       "a frame cannot arrive before it was sent: keep the jitter at most the "
                       "delay")
    return late, spread


def human_seconds(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def parse_period(text: str) -> float:
    """'10s', '10' or '2500ms' → seconds, between FLAP_LIMITS."""
    m = _PERIOD.match(text.strip())
    seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1) if m else 0.0
    low, high = FLAP_LIMITS
    if not low <= seconds <= high:
        raise LabError(f"flap period {text!r} is not a period from {low:g} s to {high:g} s",
                       "e.g. --flap 10s: cut 5 s, up 5 s, over and over")
    return seconds


def _down(fault: LinkFault, now: float) -> bool:
    return int(now // (fault.flap / 2)) % 2 == 0


def in_force(faults: list[LinkFault], now: float) -> list[LinkFault]:
    """The rules that must hold at `now`: a flapping link is a cut in its down half and nothing
    in its up half; every other fault is itself."""
    return [replace(f, cut=True, flap=0.0) if f.flap else f for f in faults
            if not f.flap or _down(f, now)]


def next_change(faults: list[LinkFault], now: float) -> float | None:
    """When `in_force` next changes (the nearest half-period boundary), or None: nothing flaps."""
    ends = [(math.floor(now / (f.flap / 2)) + 1) * (f.flap / 2) for f in faults if f.flap]
    return min(ends) if ends else None


def human_rate(bits: int) -> str:
    for unit in ("gbit", "mbit", "kbit"):
        if bits >= _RATE_UNITS[unit] and bits % _RATE_UNITS[unit] == 0:
            return f"{bits // _RATE_UNITS[unit]}{unit}"
    return f"{bits}bit"


def check_pair(nodes: list[str], a: str, b: str) -> None:
    for n in (a, b):
        if n not in nodes:
            raise LabError(f"the lab has no node {n!r}", f"its nodes are: {', '.join(nodes)}")
    if a == b:
        raise LabError(f"a link joins two different nodes (got {a} and {b})",
                       f"e.g. `labkit cut {a} {next(n for n in nodes if n != a)}`")


def both_ways(a: str, b: str, **fault: Any) -> list[LinkFault]:
    return [LinkFault(a, b, **fault), LinkFault(b, a, **fault)]


def parse_partition(nodes: list[str], text: str) -> list[list[str]]:
    """'node1,node2 / node3' → [[node1, node2], [node3]]: at least two sides, every node named
    at most once. Nodes left out keep all their links."""
    sides = [[n.strip() for n in side.split(",") if n.strip()] for side in text.split("/")]
    if len(sides) < 2 or any(not side for side in sides):
        raise LabError(f"a partition needs two sides or more (got {text!r})",
                       "e.g. `labkit partition node1,node2 / node3,node4`")
    named = [n for side in sides for n in side]
    for n in named:
        if n not in nodes:
            raise LabError(f"the lab has no node {n!r}", f"its nodes are: {', '.join(nodes)}")
    if len(set(named)) != len(named):
        twice = sorted({n for n in named if named.count(n) > 1})
        raise LabError(f"{', '.join(twice)} is on two sides of the partition",
                       "name each node on one side only")
    return sides


def across(sides: list[list[str]]) -> list[LinkFault]:
    """Every link between two sides, cut both ways."""
    return [LinkFault(a, b, cut=True) for i, side in enumerate(sides) for a in side
            for j, other in enumerate(sides) if i != j for b in other]
