"""The declarative cluster spec: which nodes exist and which roles each one plays.

A topology says *what* the cluster is, never *how* it is started (that is a backend's job),
in the spirit of a Containerlab topology file. It loads from YAML or is built in Python:

    nodes:
      node1: {roles: [lb, app, mysql, postgres, cassandra]}
      node2: {roles: [lb, app, mysql, postgres, cassandra]}
      node3: {roles: [app]}
      node4: {roles: [app]}
    vrrp: {advert_interval: 0.2, preempt: false}
    lb: {health_check_interval: 0.2, member_timeout: 1, slow_timeout: 5, retry: 1,
         fail_on_timeout: false}      # Apache's balancer timers (seconds)
    mysql: {semi_sync: true, failover_after: 1.0, alone_after: 3.0}  # semi_sync false: unsafe
    postgres: {synchronous: true, failover_after: 1.0}  # synchronous false: unsafe on purpose
    cassandra: {commitlog_sync: periodic}  # batch: fsync before every acknowledgement
    links:                            # faults on links from the start (netns backend only)
      - {endpoints: [node1, node3], loss: 5%}

Every Topology passes one gate for the rules across nodes (`_validate`). What a person wrote
(YAML, a dict) passes a strict pydantic schema first, for shape, types and ranges
(labkit.topology_schema: an unknown key, `priority: "90"` or `preempt: "no"` is a mistake, not
something to guess at). A problem is one LabError whose message names the key path, e.g.
`topology: nodes.node1.priority: must be an integer (got 'high')`, with what to write instead as
its hint: a learner fixes a line, not a stack trace. The lab's own layout.json, written by
`to_dict` after that check, is read back without the schema (`from_saved`): the daemons that read
it at start-up then never import pydantic or PyYAML (about 12 MiB each).
"""

from __future__ import annotations

import contextvars
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import links, names
from labkit.errors import LabError
from labkit.specs import (  # noqa: F401 - the parts, named here too: one place to import from
    MEMBERSHIP_TIMEOUT,
    TOPOLOGY_NAME,
    CassandraSpec,
    DevicesSpec,
    LbSpec,
    LinkSpec,
    MysqlSpec,
    NodeSpec,
    PostgresSpec,
    VrrpSpec,
    _fail,
    parse_size,
)
from labkit.tiers import ROLES

#: set while a saved layout's topology is read back (`Topology.from_saved`): its shape was checked
#: when the lab was made, so only the rules across nodes run again
_SAVED: contextvars.ContextVar[bool] = contextvars.ContextVar("topology_saved", default=False)
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
class Topology:
    """A whole lab: its name, nodes and cluster-wide settings."""

    nodes: tuple[NodeSpec, ...]
    name: str = TOPOLOGY_NAME
    vrrp: VrrpSpec = field(default_factory=VrrpSpec)
    lb: LbSpec = field(default_factory=LbSpec)
    devices: DevicesSpec = field(default_factory=DevicesSpec)
    membership_timeout: float = MEMBERSHIP_TIMEOUT
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
        from labkit.topology_schema import build, parse

        return cls(**build(parse(data)))

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> Topology:
        """The topology a lab saved (`to_dict`'s shape, checked when it was made), read without
        the schema; anything else (an older layout.json, a hand edit) goes through `from_dict`."""
        trusted = _SAVED.set(True)
        try:
            return cls(
                nodes=tuple(NodeSpec(name, tuple(body["roles"]), body["priority"])
                            for name, body in data["nodes"].items()),
                name=data["name"], vrrp=VrrpSpec(**data["vrrp"]), lb=LbSpec(**data["lb"]),
                devices=DevicesSpec(**data["devices"]),
                membership_timeout=data["membership_timeout"],
                mysql=MysqlSpec(**data["mysql"]), postgres=PostgresSpec(**data["postgres"]),
                cassandra=CassandraSpec(**data["cassandra"]),
                links=tuple(LinkSpec(endpoints=(ln["endpoints"][0], ln["endpoints"][1]),
                                     **{k: v for k, v in ln.items() if k != "endpoints"})
                            for ln in data["links"]))
        except (KeyError, TypeError, AttributeError, IndexError):
            pass
        finally:
            _SAVED.reset(trusted)
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Topology:
        """A topology from a YAML file; a problem names the file in the hint."""
        path = Path(path)
        from labkit.topology_schema import read_yaml

        data = read_yaml(path)
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


# -- the rules across nodes ---------------------------------------------------------------------


def _validate(topo: Topology) -> None:
    """Every Topology passes here, from YAML, layout.json or Python: the schema's types and
    ranges (not for a saved layout, checked when it was made: `from_saved`), then the rules that
    span nodes."""
    twice = [name for name, n in Counter(n.name for n in topo.nodes).items() if n > 1]
    if twice:  # before to_dict, which would fold them into one
        raise _fail(("nodes", twice[0]), "node names must be unique",
                    "give every node its own name")
    if not _SAVED.get():
        from labkit.topology_schema import parse

        parse(topo.to_dict())
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
    if link.cut and (link.loss or link.rate or link.delay):
        raise _fail(("links", i), "a cut link carries nothing: loss, rate or delay beside it "
                    "means nothing", "give either cut: true, or loss, rate and/or delay")
    try:
        links.parse_late(link.delay, link.jitter)
    except LabError as exc:  # said of the key it is about
        key = "jitter" if exc.message.startswith("jitter") else "delay"
        raise _fail(("links", i, key), exc.message, exc.hint) from None
    if not (link.cut or link.loss or link.rate or link.delay):
        raise _fail(("links", i), "says nothing about the link", "add cut: true, loss: 5%, "
                    "rate: 1mbit or delay: 50ms")
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


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"

