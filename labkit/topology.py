"""The declarative cluster spec: which nodes exist and which roles each one plays.

A topology says *what* the cluster is, never *how* it is started (that is a backend's job),
in the spirit of a Containerlab topology file. It loads from YAML or is built in Python:

    nodes:
      node1: {roles: [lb, app, mysql, postgres, cassandra]}
      node2: {roles: [lb, app, mysql, postgres, cassandra]}
      node3: {roles: [app]}
      node4: {roles: [app]}
    vrrp: {advert_interval: 0.5, preempt: false}
    lb: {health_check_interval: 0.2, member_timeout: 1, slow_timeout: 5, retry: 1,
         fail_on_timeout: false}      # Apache's balancer timers (seconds)
    mysql: {semi_sync: true, failover_after: 3.0, alone_after: 3.0}  # semi_sync false: unsafe
    postgres: {synchronous: true, failover_after: 3.0}  # synchronous false: unsafe on purpose
    cassandra: {commitlog_sync: periodic}  # batch: fsync before every acknowledgement
    links:                            # faults on links from the start (netns backend only)
      - {endpoints: [node1, node3], loss: 5%}

Every Topology, from YAML, layout.json or Python, passes one gate (`_validate`): a strict pydantic
schema for shape, types and ranges (an unknown key, `priority: "90"` or `preempt: "no"` is a
mistake, not something to guess at), then the rules across nodes. A problem is one LabError whose
message names the key path, e.g. `topology: nodes.node1.priority: must be an integer (got
'high')`, with what to write instead as its hint: a learner fixes a line, not a stack trace.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from labkit import links, names
from labkit.errors import LabError
from labkit.tiers import ROLES

#: Every role a node may play. Components register the role they implement; a role listed here
#: but not yet implemented by a component is accepted and simply starts nothing.
KNOWN_ROLES = ROLES  #: from the tier registry: the one list of tiers
#: How many nodes at most may play a paired role (active/standby tiers).
PAIRED_ROLES = {"lb": 2, "mysql": 2, "postgres": 2}
#: Paired roles that are on no node or on exactly two: a database "pair" of one has no standby,
#: and its start waits for one that never comes. A single lb is fine: its VIP just never moves.
WHOLE_PAIRS = ("mysql", "postgres")
NODE_NAME = names.NODE_NAME  #: the one node-name rule (labkit.names); use fullmatch
MIN_NODES, MAX_NODES = 2, 16


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

    advert_interval: float = 0.5
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
    #: add up to one POLL twice, and the promotion about a second, to the clients' gap)
    failover_after: float = 3.0
    #: seconds without a semi-sync standby before the active records `alone` in the witness and
    #: stops waiting (its commits wait, unacknowledged, until then)
    alone_after: float = 3.0


@dataclass(frozen=True)
class PostgresSpec:
    """The PostgreSQL pair's durability. `synchronous: false` keeps synchronous_standby_names
    empty: commits return before the standby has the WAL, so a promotion can lose them."""

    synchronous: bool = True
    #: seconds of silence from the primary before the standby's watcher promotes it
    failover_after: float = 3.0


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
    between the two endpoints cut, lossy (`loss: 5%`) or slow (`rate: 1mbit`), both ways or
    (`one_way`) only from the first endpoint to the second. Only a backend with a real network
    between its nodes (netns) can apply it; the others refuse the topology."""

    endpoints: tuple[str, str]
    cut: bool = False
    loss: str | None = None
    rate: str | None = None
    one_way: bool = False

    def faults(self) -> list[links.LinkFault]:
        a, b = self.endpoints
        fault = {"cut": self.cut, "loss": links.parse_loss(self.loss) if self.loss else 0.0,
                 "rate": links.parse_rate(self.rate) if self.rate else 0}
        return [links.LinkFault(a, b, **fault)] if self.one_way else links.both_ways(a, b, **fault)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"endpoints": list(self.endpoints)}
        out.update({k: v for k, v in (("cut", self.cut), ("loss", self.loss),
                                      ("rate", self.rate), ("one_way", self.one_way)) if v})
        return out


@dataclass(frozen=True)
class Topology:
    """A whole lab: its name, nodes and cluster-wide settings."""

    nodes: tuple[NodeSpec, ...]
    name: str = "labkit"
    vrrp: VrrpSpec = field(default_factory=VrrpSpec)
    lb: LbSpec = field(default_factory=LbSpec)
    devices: DevicesSpec = field(default_factory=DevicesSpec)
    membership_timeout: float = 3.0
    mysql: MysqlSpec = field(default_factory=MysqlSpec)
    postgres: PostgresSpec = field(default_factory=PostgresSpec)
    cassandra: CassandraSpec = field(default_factory=CassandraSpec)
    links: tuple[LinkSpec, ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def default(cls, nodes: int = 4) -> Topology:
        """The seed's shape: LB and database pairs on node1/node2, an app server on every node."""
        if not MIN_NODES <= nodes <= MAX_NODES:
            raise LabError(f"--nodes must be between {MIN_NODES} and {MAX_NODES}, not {nodes}",
                           "a lab needs two nodes for its load-balancer pair")
        specs = []
        for i in range(1, nodes + 1):
            roles = ["app"]
            if i <= 2:
                roles = ["lb", "app", "mysql", "postgres", "cassandra"]
            priority = 110 - 10 * i if i <= 2 else 100  # node1 is the preferred VIP owner
            specs.append(NodeSpec(f"node{i}", tuple(roles), priority=priority))
        return cls(nodes=tuple(specs))

    @classmethod
    def from_dict(cls, data: Any) -> Topology:
        """A topology from parsed YAML or JSON (layout.json), checked strictly: unknown keys,
        quoted numbers and "yes"-strings for booleans are refused with one LabError."""
        return _build(_parse(data))

    @classmethod
    def load(cls, path: str | Path) -> Topology:
        """A topology from a YAML file; a problem names the file in the hint."""
        path = Path(path)
        data = _read_yaml(path)
        try:
            return cls.from_dict(data)
        except LabError as exc:
            raise LabError(exc.message, f"in {path}: {exc.hint}" if exc.hint
                           else f"fix it in {path}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": {n.name: {"roles": list(n.roles), "priority": n.priority} for n in self.nodes},
            "vrrp": {"advert_interval": self.vrrp.advert_interval, "preempt": self.vrrp.preempt},
            "lb": {"health_check_interval": self.lb.health_check_interval,
                   "member_timeout": self.lb.member_timeout,
                   "slow_timeout": self.lb.slow_timeout, "retry": self.lb.retry,
                   "fail_on_timeout": self.lb.fail_on_timeout},
            "devices": {"count": self.devices.count, "latency_ms": self.devices.latency_ms,
                        "auto_rebalance": self.devices.auto_rebalance},
            "membership_timeout": self.membership_timeout,
            "mysql": {"semi_sync": self.mysql.semi_sync,
                      "failover_after": self.mysql.failover_after,
                      "alone_after": self.mysql.alone_after},
            "postgres": {"synchronous": self.postgres.synchronous,
                         "failover_after": self.postgres.failover_after},
            "cassandra": {"commitlog_sync": self.cassandra.commitlog_sync,
                          "quota": self.cassandra.quota},
            "links": [link.to_dict() for link in self.links],
        }

    def link_faults(self) -> list[links.LinkFault]:
        """Every direction the declared links put a fault on."""
        return [f for link in self.links for f in link.faults()]

    # -- queries ------------------------------------------------------------------------------
    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LabError(f"unknown node {name!r}",
                       f"the lab's nodes are: {', '.join(n.name for n in self.nodes)}")

    def with_role(self, role: str) -> list[NodeSpec]:
        return [n for n in self.nodes if role in n.roles]


# -- the schema: shape, types and ranges (pydantic, strict) ---------------------------------------
# Private: it only checks and converts; the code base uses the frozen dataclasses above. The
# defaults are the dataclasses' own, so there is one place for each.


class _Strict(BaseModel):
    """No unknown keys; no coercion ("90" is no int, "no" is no bool, true is no int)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _NodeSchema(_Strict):
    roles: list[str] = Field(default_factory=lambda: ["app"])
    priority: int = Field(NodeSpec.priority, ge=1, le=254)  # VRRP's range for a backup


class _VrrpSchema(_Strict):
    advert_interval: float = Field(VrrpSpec.advert_interval, ge=0.05, le=10)
    preempt: bool = VrrpSpec.preempt


class _LbSchema(_Strict):
    # mod_proxy_hcheck's watchdog ticks every 100 ms: a shorter hcinterval is refused
    health_check_interval: float = Field(LbSpec.health_check_interval, ge=0.1, le=60)
    # BalancerMember timeout= and ProxyTimeout take whole seconds, at least 1
    member_timeout: int = Field(LbSpec.member_timeout, ge=1, le=300)
    slow_timeout: int = Field(LbSpec.slow_timeout, ge=1, le=600)
    retry: int = Field(LbSpec.retry, ge=0, le=300)
    fail_on_timeout: bool = LbSpec.fail_on_timeout


class _DevicesSchema(_Strict):
    count: int = Field(DevicesSpec.count, ge=0, le=5000)
    latency_ms: int = Field(DevicesSpec.latency_ms, ge=0, le=60_000)
    auto_rebalance: bool = DevicesSpec.auto_rebalance


#: a silence timer shorter than two of the watchers' polls (0.5 s) cannot be kept
_SILENCE = {"ge": 1.0, "le": 60}


class _MysqlSchema(_Strict):
    semi_sync: bool = MysqlSpec.semi_sync
    failover_after: float = Field(MysqlSpec.failover_after, **_SILENCE)
    alone_after: float = Field(MysqlSpec.alone_after, **_SILENCE)


class _PostgresSchema(_Strict):
    synchronous: bool = PostgresSpec.synchronous
    failover_after: float = Field(PostgresSpec.failover_after, **_SILENCE)


class _CassandraSchema(_Strict):
    commitlog_sync: Literal["periodic", "batch"] = CassandraSpec.commitlog_sync
    quota: str | int = CassandraSpec.quota


class _LinkSchema(_Strict):
    endpoints: list[str] = Field(min_length=2, max_length=2)
    cut: bool = False
    loss: str | None = None
    rate: str | None = None
    one_way: bool = False


class _TopologySchema(_Strict):
    name: str = Topology.name
    nodes: dict[str, _NodeSchema | None]  # `node3:` with nothing after it plays app
    vrrp: _VrrpSchema | None = None
    lb: _LbSchema | None = None
    devices: _DevicesSchema | None = None
    membership_timeout: float = Field(Topology.membership_timeout, ge=0.5, le=60)
    mysql: _MysqlSchema | None = None
    postgres: _PostgresSchema | None = None
    cassandra: _CassandraSchema | None = None
    links: list[_LinkSchema] = Field(default_factory=list)


_SECTIONS: dict[str, type[_Strict]] = {"vrrp": _VrrpSchema, "lb": _LbSchema,
                                       "devices": _DevicesSchema,
                                       "mysql": _MysqlSchema, "postgres": _PostgresSchema,
                                       "cassandra": _CassandraSchema}
#: what to write instead, by the key that is wrong
_EXAMPLES = {
    "nodes": "nodes: {node1: {roles: [lb, app]}, node2: {roles: [lb, app]}}",
    "node": "node1: {roles: [lb, app], priority: 100}",
    "roles": "roles: [lb, app]", "priority": "priority: 100", "name": "name: mylab",
    "vrrp": "vrrp: {advert_interval: 0.5, preempt: false}",
    "advert_interval": "advert_interval: 0.5", "preempt": "preempt: false",
    "lb": "lb: {health_check_interval: 0.2, member_timeout: 1, slow_timeout: 5, retry: 1}",
    "health_check_interval": "health_check_interval: 0.2", "member_timeout": "member_timeout: 1",
    "slow_timeout": "slow_timeout: 5", "retry": "retry: 1",
    "fail_on_timeout": "fail_on_timeout: true",
    "devices": "devices: {count: 100, latency_ms: 0, auto_rebalance: false}",
    "count": "count: 100", "latency_ms": "latency_ms: 0", "auto_rebalance": "auto_rebalance: false",
    "membership_timeout": "membership_timeout: 3.0",
    "mysql": "mysql: {semi_sync: true, failover_after: 3.0}", "semi_sync": "semi_sync: true",
    "failover_after": "failover_after: 3.0", "alone_after": "alone_after: 3.0",
    "postgres": "postgres: {synchronous: true}", "synchronous": "synchronous: true",
    "cassandra": "cassandra: {commitlog_sync: batch}",
    "commitlog_sync": "commitlog_sync: batch (or periodic)", "quota": "quota: 4GiB",
    "links": "links: [{endpoints: [node1, node3], loss: 5%}]",
    "endpoints": "endpoints: [node1, node3]", "loss": "loss: 5%", "rate": "rate: 1mbit",
    "cut": "cut: true", "one_way": "one_way: true",
}
_TYPES = {"int_type": "must be an integer", "float_type": "must be a number",
          "bool_type": "must be true or false", "string_type": "must be a string",
          "list_type": "must be a list", "dict_type": "must be a mapping",
          "model_type": "must be a mapping"}
_SCALARS = ("int_type", "float_type", "bool_type")  #: a quoted "90" or "no" is a string


def _parse(data: Any) -> _TopologySchema:
    """The schema's view of `data`, or the first problem as one LabError."""
    try:
        return _TopologySchema.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc.errors(include_url=False)[0]) from None


def _build(spec: _TopologySchema) -> Topology:
    """The frozen dataclasses from a checked schema (their __post_init__ checks the rules)."""
    vrrp, devices = spec.vrrp or _VrrpSchema(), spec.devices or _DevicesSchema()
    lb = spec.lb or _LbSchema()
    my, pg = spec.mysql or _MysqlSchema(), spec.postgres or _PostgresSchema()
    cas = spec.cassandra or _CassandraSchema()
    nodes = tuple(NodeSpec(name, tuple(body.roles), body.priority)
                  for name, body in spec.nodes.items() for body in [body or _NodeSchema()])
    return Topology(nodes=nodes, name=spec.name,
                    vrrp=VrrpSpec(vrrp.advert_interval, vrrp.preempt),
                    lb=LbSpec(lb.health_check_interval, lb.member_timeout, lb.slow_timeout,
                              lb.retry, lb.fail_on_timeout),
                    devices=DevicesSpec(devices.count, devices.latency_ms, devices.auto_rebalance),
                    membership_timeout=spec.membership_timeout,
                    mysql=MysqlSpec(my.semi_sync, my.failover_after, my.alone_after),
                    postgres=PostgresSpec(pg.synchronous, pg.failover_after),
                    cassandra=CassandraSpec(cas.commitlog_sync, str(cas.quota)),
                    links=tuple(LinkSpec((ln.endpoints[0], ln.endpoints[1]), ln.cut, ln.loss,
                                         ln.rate, ln.one_way) for ln in spec.links))


def _schema_error(err: ErrorDetails) -> LabError:
    """One pydantic error as the lab says it: the key path, the problem, what to write."""
    loc, kind, ctx = tuple(err["loc"]), err["type"], err.get("ctx") or {}
    if loc[-1:] == ("[key]",):
        return _fail(loc[:-1], f"a node name must be a string (got {_got(err['input'])})",
                     names.NODE_NAME_HINT)
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        known = ", ".join(model.model_fields) if model else "see the docs"
        return _fail(loc, "unknown key", f"known keys here: {known}")
    if kind == "missing":
        return _fail(loc, "is missing", f"write e.g. {_example(loc)}")
    if kind in ("greater_than_equal", "less_than_equal"):
        edge = "at least" if kind == "greater_than_equal" else "at most"
        bound = ctx.get("ge", ctx.get("le"))
        return _fail(loc, f"must be {edge} {bound} (got {_got(err['input'])})", _range(loc))
    if kind in _TYPES:
        bare = ", without quotes" if kind in _SCALARS else ""
        return _fail(loc, f"{_TYPES[kind]} (got {_got(err['input'])})",
                     f"write e.g. {_example(loc)}{bare}")
    return _fail(loc, f"{err['msg'][:1].lower()}{err['msg'][1:]} (got {_got(err['input'])})")


def _model_at(loc: tuple[Any, ...]) -> type[_Strict] | None:
    """The schema model whose keys live at `loc` (for listing the known ones)."""
    if loc == ():
        return _TopologySchema
    if len(loc) == 2 and loc[0] == "nodes":
        return _NodeSchema
    if len(loc) == 2 and loc[0] == "links":
        return _LinkSchema
    return _SECTIONS.get(loc[0]) if len(loc) == 1 else None


def _example(loc: tuple[Any, ...]) -> str:
    """What to write at `loc`: the nearest key with an example (roles.0 → roles)."""
    if len(loc) == 2 and loc[0] == "nodes":
        return _EXAMPLES["node"]
    key = next((k for k in reversed(loc) if isinstance(k, str) and k in _EXAMPLES), "nodes")
    return _EXAMPLES[key]


def _range(loc: tuple[Any, ...]) -> str | None:
    """The field's bounds as a hint ("choose a value from 1 to 254"), read from the schema."""
    model = _model_at(loc[:-1])
    info = model.model_fields.get(str(loc[-1])) if model else None
    if info is None:
        return None
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    return f"choose a value from {low} to {high}"


def _got(value: Any) -> str:
    """The offending value, on one line and short: repr escapes newlines."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _where(loc: tuple[Any, ...]) -> str:
    """nodes.node1.priority; a key that is no plain word is quoted (nodes.'N 1')."""
    parts = [str(p) if str(p).replace("_", "").isalnum() and str(p).isascii() else repr(p)
             for p in loc]
    return ".".join(parts)


def _fail(loc: tuple[Any, ...], problem: str, hint: str | None = None) -> LabError:
    where = _where(loc)
    return LabError(f"topology: {where}: {problem}" if where else f"topology: {problem}", hint)


# -- the rules across nodes ---------------------------------------------------------------------


def _validate(topo: Topology) -> None:
    """Every Topology passes here, from YAML, layout.json or Python: the schema's types and
    ranges, then the rules that span nodes."""
    twice = [name for name, n in Counter(n.name for n in topo.nodes).items() if n > 1]
    if twice:  # before to_dict, which would fold them into one
        raise _fail(("nodes", twice[0]), "node names must be unique",
                    "give every node its own name")
    _parse(topo.to_dict())
    for n in topo.nodes:
        _check_node(n)
    _check_counts(topo)
    _check_lb(topo.lb)
    for i, link in enumerate(topo.links):
        _check_link(topo, i, link)


def _check_lb(lb: LbSpec) -> None:
    """The slow routes' members may wait no less than the others: a route sent to them because
    it is slow must never time out sooner than it would on the main balancer."""
    if lb.slow_timeout < lb.member_timeout:
        raise _fail(("lb", "slow_timeout"), f"must be at least member_timeout "
                    f"({lb.member_timeout}) (got {lb.slow_timeout})",
                    "raise slow_timeout or lower member_timeout")


def _check_link(topo: Topology, i: int, link: LinkSpec) -> None:
    """A declared link names two nodes of this lab and one kind of fault, in tc's units."""
    nodes = [n.name for n in topo.nodes]
    try:
        links.check_pair(nodes, *link.endpoints)
    except LabError as exc:
        raise _fail(("links", i, "endpoints"), exc.message, exc.hint) from None
    if link.cut and (link.loss or link.rate):
        raise _fail(("links", i), "a cut link carries nothing: loss or rate beside it means "
                    "nothing", "give either cut: true, or loss and/or rate")
    if not (link.cut or link.loss or link.rate):
        raise _fail(("links", i), "says nothing about the link", "add cut: true, loss: 5% or "
                    "rate: 1mbit")
    for key, parse in (("loss", links.parse_loss), ("rate", links.parse_rate)):
        value = getattr(link, key)
        if value:
            try:
                parse(value)
            except LabError as exc:
                raise _fail(("links", i, key), exc.message, exc.hint) from None


def _check_node(n: NodeSpec) -> None:
    if not names.valid_node_name(n.name):
        raise _fail(("nodes", n.name), "not a valid node name", names.NODE_NAME_HINT)
    bad = [r for r in n.roles if r not in KNOWN_ROLES]
    if bad:
        raise _fail(("nodes", n.name, "roles"), f"unknown role {bad[0]!r}",
                    f"known roles: {', '.join(KNOWN_ROLES)}")
    twice = [r for r, k in Counter(n.roles).items() if k > 1]
    if twice:
        raise _fail(("nodes", n.name, "roles"), f"role {twice[0]!r} is listed twice",
                    "list each role once")


def _check_counts(topo: Topology) -> None:
    if not MIN_NODES <= len(topo.nodes) <= MAX_NODES:
        raise _fail(("nodes",), f"a lab has between {MIN_NODES} and {MAX_NODES} nodes "
                    f"(got {len(topo.nodes)})", "a lab needs two nodes for its load-balancer pair")
    for role, most in PAIRED_ROLES.items():
        holders = [n.name for n in topo.with_role(role)]
        on = f"role {role!r} is on {_count(len(holders), 'node')} ({', '.join(holders)})"
        if role in WHOLE_PAIRS and len(holders) not in (0, most):
            raise _fail(("nodes",), f"{on}; a {role} pair is exactly {most} nodes",
                        f"give {role!r} to {most} nodes, or to none")
        if len(holders) > most:
            raise _fail(("nodes",), f"{on}; at most {most}", f"give {role!r} to 1 or {most} nodes")
    if not topo.with_role("lb"):
        raise _fail(("nodes",), "no node has the 'lb' role",
                    "give 'lb' to one or two nodes: they hold the VIP")
    if not topo.with_role("app"):
        raise _fail(("nodes",), "no node has the 'app' role", "give 'app' to at least one node")


# -- YAML ---------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: the plain loader
    keeps the last one silently, so `node1:` written twice would lose a node's roles."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may be overridden by the keys after it
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
            except TypeError:
                pass  # an unhashable key: the base class says so
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabError(f"topology file {path} does not exist",
                       "check the path given to --topology") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(f"topology file {path} cannot be read: {_one_line(exc)}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        problem = _yaml_problem(exc)
        hint = ("a key may appear once per mapping: merge the two" if "duplicate key" in problem
                else "check the brackets, quotes and indentation there")
        raise LabError(f"topology file {path} is not valid YAML: {problem}", hint) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The problem and where, on one line (PyYAML's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if mark is None or problem is None:
        return _one_line(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {_one_line(problem)}"


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())
