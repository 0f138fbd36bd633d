"""The declarative cluster spec: which nodes exist and which roles each one plays.

A topology says *what* the cluster is, never *how* it is started (that is a backend's job),
in the spirit of a Containerlab topology file. It loads from YAML or is built in Python:

    nodes:
      node1: {roles: [lb, app, mysql, postgres, cassandra]}
      node2: {roles: [lb, app, mysql, postgres, cassandra]}
      node3: {roles: [app]}
      node4: {roles: [app]}
    vrrp: {advert_interval: 0.5, preempt: false}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labkit.errors import LabError
from labkit.tiers import ROLES

#: Every role a node may play. Components register the role they implement; a role listed here
#: but not yet implemented by a component is accepted and simply starts nothing.
KNOWN_ROLES = ROLES  #: from the tier registry: the one list of tiers
#: How many nodes at most may play a paired role (active/standby tiers).
PAIRED_ROLES = {"lb": 2, "mysql": 2, "postgres": 2}
NODE_NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")


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
class DevicesSpec:
    """The simulated fleet of managed devices (placed outside the cluster nodes)."""

    count: int = 100  # the fleet exists from `up`; discovery is a separate step
    latency_ms: int = 0
    auto_rebalance: bool = False


@dataclass(frozen=True)
class Topology:
    """A whole lab: its name, nodes and cluster-wide settings."""

    nodes: tuple[NodeSpec, ...]
    name: str = "labkit"
    vrrp: VrrpSpec = field(default_factory=VrrpSpec)
    devices: DevicesSpec = field(default_factory=DevicesSpec)
    membership_timeout: float = 3.0

    def __post_init__(self) -> None:
        _validate(self)

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def default(cls, nodes: int = 4) -> Topology:
        """The seed's shape: LB and database pairs on node1/node2, an app server on every node."""
        if not 2 <= nodes <= 16:
            raise LabError(f"--nodes must be between 2 and 16, not {nodes}",
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
    def from_dict(cls, data: dict[str, Any]) -> Topology:
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
            raise LabError("a topology needs a 'nodes' mapping",
                           "write e.g.  nodes: {node1: {roles: [lb, app]}, "
                           "node2: {roles: [lb, app]}}")
        unknown = set(data) - {"name", "nodes", "vrrp", "devices", "membership_timeout"}
        if unknown:
            raise LabError(f"unknown topology keys: {', '.join(sorted(unknown))}")
        nodes = []
        for name, body in data["nodes"].items():
            body = body or {}
            if not isinstance(body, dict):
                raise LabError(f"node {name!r}: expected a mapping with 'roles'")
            roles = body.get("roles", ["app"])
            if not isinstance(roles, list):
                raise LabError(f"node {name!r}: 'roles' must be a list")
            nodes.append(NodeSpec(str(name), tuple(str(r) for r in roles),
                                  int(body.get("priority", 100))))
        try:
            return cls(nodes=tuple(nodes), name=str(data.get("name", "labkit")),
                       vrrp=VrrpSpec(**(data.get("vrrp") or {})),
                       devices=DevicesSpec(**(data.get("devices") or {})),
                       membership_timeout=float(data.get("membership_timeout", 3.0)))
        except TypeError as exc:
            raise LabError(f"bad topology setting: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> Topology:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise LabError(f"topology file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise LabError(f"topology file {path} is not valid YAML: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": {n.name: {"roles": list(n.roles), "priority": n.priority} for n in self.nodes},
            "vrrp": {"advert_interval": self.vrrp.advert_interval, "preempt": self.vrrp.preempt},
            "devices": {"count": self.devices.count, "latency_ms": self.devices.latency_ms,
                        "auto_rebalance": self.devices.auto_rebalance},
            "membership_timeout": self.membership_timeout,
        }

    # -- queries ------------------------------------------------------------------------------
    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LabError(f"unknown node {name!r}",
                       f"the lab's nodes are: {', '.join(n.name for n in self.nodes)}")

    def with_role(self, role: str) -> list[NodeSpec]:
        return [n for n in self.nodes if role in n.roles]


def _validate(topo: Topology) -> None:
    names = [n.name for n in topo.nodes]
    if len(set(names)) != len(names):
        raise LabError("node names must be unique")
    for n in topo.nodes:
        if not NODE_NAME.match(n.name):
            raise LabError(f"bad node name {n.name!r}",
                           "use lower-case letters and digits, starting with a letter (e.g. node1)")
        bad = [r for r in n.roles if r not in KNOWN_ROLES]
        if bad:
            raise LabError(f"node {n.name}: unknown role(s) {', '.join(bad)}",
                           f"known roles: {', '.join(KNOWN_ROLES)}")
        if not 1 <= n.priority <= 254:
            raise LabError(f"node {n.name}: priority must be 1..254 (VRRP), not {n.priority}")
    if not 2 <= len(topo.nodes) <= 16:
        raise LabError("a lab has between 2 and 16 nodes")
    for role, most in PAIRED_ROLES.items():
        holders = [n.name for n in topo.nodes if role in n.roles]
        if len(holders) > most:
            raise LabError(f"role {role!r} is on {len(holders)} nodes; at most {most}")
    if len(topo.with_role("lb")) < 1:
        raise LabError("at least one node must have the 'lb' role")
    if not topo.with_role("app"):
        raise LabError("at least one node must have the 'app' role")
    if not 0.05 <= topo.vrrp.advert_interval <= 10:
        raise LabError("vrrp.advert_interval must be between 0.05 and 10 seconds")
    if not 0 <= topo.devices.count <= 5000:
        raise LabError("devices.count must be between 0 and 5000")
    if not 0.5 <= topo.membership_timeout <= 60:
        raise LabError("membership_timeout must be between 0.5 and 60 seconds")
