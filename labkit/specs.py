"""The parts a topology is made of, as frozen dataclasses: a node, the VIP election's settings,
Apache's balancer timers, the device fleet, the database pairs' timers, the ring's commit log and a
link's declared fault. Pure data with their own small checks; labkit.topology puts them together
(and re-exports them), labkit.topology_schema reads them from what a person wrote.

Also the one way a topology problem is said (`_fail`: the key path, the problem, the hint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labkit import links
from labkit.errors import LabError

TOPOLOGY_NAME = "labkit"  #: a topology's name when it gives none
MEMBERSHIP_TIMEOUT = 3.0  #: seconds of missed heartbeats before an app node is declared dead

@dataclass(frozen=True)
class NodeSpec:
    """One cluster node: a name, its roles, and (for the VIP election) its priority."""

    name: str
    roles: tuple[str, ...]
    priority: int = 100

    def has(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class VrrpSpec:
    """Settings of the VIP election between the load-balancer nodes (RFC 5798 terms)."""

    advert_interval: float = 0.2
    preempt: bool = False


@dataclass(frozen=True)
class LbSpec:
    """Apache's balancer timers (mod_proxy_balancer, mod_proxy_hcheck), in seconds.

    A frozen app server's kernel still accepts connections, so only a timeout notices it:
    mod_proxy_hcheck asks every member's /health each `health_check_interval` and a check that
    gets no answer within `member_timeout` takes the member out (since httpd 2.4.55 a check waits
    as long as the member's own `timeout`). Requests to routes that wait on a database or move a
    file may legitimately take longer: they go through a second balancer whose members wait
    `slow_timeout`. `retry` is how long a member in error (a refused connection, or with
    `fail_on_timeout` a timed-out answer) stays out before a request tries it again (Apache's
    default is 60 s). `fail_on_timeout` (failontimeout) puts a member whose answer timed out in
    error at once, before its health check has failed: a client sending one request after the
    other then loses one request to a frozen member, not two. Off by default: it also takes out
    a live member for one slow answer, and from httpd 2.4.55 the health check leaves a member in
    error alone, so a frozen one is tried again by a real request every `retry` seconds."""

    health_check_interval: float = 0.2
    member_timeout: int = 1
    slow_timeout: int = 5
    retry: int = 1
    fail_on_timeout: bool = False

    @property
    def health_check_interval_ms(self) -> int:
        """hcinterval in milliseconds (httpd ≥ 2.4.28 takes an `ms` suffix)."""
        return round(self.health_check_interval * 1000)


@dataclass(frozen=True)
class DevicesSpec:
    """The simulated fleet of managed devices (placed outside the cluster nodes)."""

    count: int = 100  # the fleet exists from `up`; discovery is a separate step
    latency_ms: int = 0
    auto_rebalance: bool = False


@dataclass(frozen=True)
class MysqlSpec:
    """The MySQL pair's durability. `semi_sync: false` makes the tier unsafe on purpose: the
    active acknowledges a commit before its standby has it, so a failover can lose it (the chaos
    checker's lesson: it must see those losses)."""

    semi_sync: bool = True
    #: seconds of silence from the active before the standby's watcher takes over (its polls
    #: add up to one POLL twice, and the promotion a few tenths of a second, to the clients'
    #: gap: 1.3-1.6 s in all after a crash). The least the lab takes: a pause of the active
    #: longer than this is a failover too (lesson 13), which the false-failover soak
    #: (bench/soak.py) shows a busy lab's healthy active never gives
    failover_after: float = 1.0
    #: seconds without a semi-sync standby before the active records `alone` in the witness and
    #: stops waiting (its commits wait, unacknowledged, until then)
    alone_after: float = 3.0


@dataclass(frozen=True)
class PostgresSpec:
    """The PostgreSQL pair's durability. `synchronous: false` keeps synchronous_standby_names
    empty: commits return before the standby has the WAL, so a promotion can lose them."""

    synchronous: bool = True
    #: seconds of silence from the primary before the standby's watcher promotes it (as MySQL's)
    failover_after: float = 1.0


@dataclass(frozen=True)
class CassandraSpec:
    """The ring's commit log. `periodic` (Cassandra's default) acknowledges a write once it is in
    the commit log and fsyncs every 10 s: a killed JVM loses nothing (the bytes are in the page
    cache), a lost machine loses up to those 10 s. `batch` fsyncs before it acknowledges.
    `quota` bounds what the lab's file store holds in all (one learner's uploads cannot fill
    the machine's disk): `4GiB`, `512MiB`, or bytes."""

    commitlog_sync: str = "periodic"
    quota: str = "4GiB"

    def __post_init__(self) -> None:
        parse_size(self.quota)

    @property
    def quota_bytes(self) -> int:
        return parse_size(self.quota)


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_size(text: str | int) -> int:
    """`4GiB`, `512MiB`, `100MB` or a number of bytes → bytes (a positive whole number)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS or float(match.group(1)) * _UNITS[unit] < 1:
        raise LabError(f"bad size {text!r}", "write it like 4GiB, 512MiB, 100MB or 1000000")
    return int(float(match.group(1)) * _UNITS[unit])


@dataclass(frozen=True)
class LinkSpec:
    """A fault a link has from the start, as Containerlab declares link impairments: the link
    between the two endpoints cut, lossy (`loss: 5%`), slow (`rate: 1mbit`) or late
    (`delay: 50ms`, `jitter: 10ms`), both ways or (`one_way`) only from the first endpoint to the
    second. Only a backend with a real network between its nodes (netns) can apply it; the others
    refuse the topology."""

    endpoints: tuple[str, str]
    cut: bool = False
    loss: str | None = None
    rate: str | None = None
    one_way: bool = False
    delay: str | None = None
    jitter: str | None = None

    def faults(self) -> list[links.LinkFault]:
        a, b = self.endpoints
        delay, jitter = links.parse_late(self.delay, self.jitter)
        fault = {"cut": self.cut, "loss": links.parse_loss(self.loss) if self.loss else 0.0,
                 "rate": links.parse_rate(self.rate) if self.rate else 0,
                 "delay": delay, "jitter": jitter}
        return [links.LinkFault(a, b, **fault)] if self.one_way else links.both_ways(a, b, **fault)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"endpoints": list(self.endpoints)}
        out.update({k: v for k, v in (("cut", self.cut), ("loss", self.loss),
                                      ("rate", self.rate), ("delay", self.delay),
                                      ("jitter", self.jitter), ("one_way", self.one_way)) if v})
        return out


def _where(loc: tuple[Any, ...]) -> str:
    """nodes.node1.priority; a key that is no plain word is quoted (nodes.'N 1')."""
    parts = [str(p) if str(p).replace("_", "").isalnum() and str(p).isascii() else repr(p)
             for p in loc]
    return ".".join(parts)


def _fail(loc: tuple[Any, ...], problem: str, hint: str | None = None) -> LabError:
    where = _where(loc)
    return LabError(f"topology: {where}: {problem}" if where else f"topology: {problem}", hint)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())
