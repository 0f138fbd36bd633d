"""Where a lab lives: its run directory, its /24 of loopback addresses, ports and secrets.

A `Layout` is everything derived from (lab name, topology, network) that every component needs to
render its configuration. It is written to `<run dir>/layout.json` by `up`, so `Cluster.attach()`
and the node daemons read the same facts the lab was started with.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.errors import LabError
from labkit.topology import NodeSpec, Topology

VIP_HOST = 100  #: the VIP is <prefix>.100
FIRST_NODE_HOST = 11  #: node1 is <prefix>.11, node2 .12, ...
FLEET_HOST = 200  #: the device fleet's first address (devices take .200 and up)


@dataclass(frozen=True)
class Ports:
    """TCP/UDP ports, the same on every node address (each node has its own address)."""

    http: int = 8080
    https: int = 8443
    app: int = 8000
    mysql: int = 3306
    postgres: int = 5432
    cassandra_cql: int = 9042
    cassandra_storage: int = 7000
    vrrp: int = 11200  # UDP: election adverts, carried by the lab segment
    heartbeat: int = 11300  # UDP: app-server membership heartbeats
    netconf: int = 8300  # first device's NETCONF-over-SSH port


def home() -> Path:
    """The root of every lab's run directory; outside any repo so a clone stays clean."""
    root = os.environ.get("LABKIT_HOME")
    if root:
        return Path(root).expanduser()
    if os.geteuid() == 0:
        # root's home is private, but PostgreSQL runs as its own user and must reach its data
        return Path("/var/lib/labkit")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "labkit"


def default_lab_name() -> str:
    return os.environ.get("LABKIT_LAB", "default")


@dataclass
class Layout:
    """A lab's addresses, ports, directories and generated secrets."""

    lab: str
    topology: Topology
    prefix: str  # e.g. "127.0.7": the lab's own /24
    backend: str = "local"
    ports: Ports = field(default_factory=Ports)
    secrets: dict[str, str] = field(default_factory=dict)

    # -- directories --------------------------------------------------------------------------
    @property
    def rundir(self) -> Path:
        return home() / self.lab

    @property
    def events_path(self) -> Path:
        return self.rundir / "events.jsonl"

    def node_dir(self, node: str) -> Path:
        return self.rundir / "nodes" / node

    def log_dir(self, node: str) -> Path:
        return self.node_dir(node) / "log"

    # -- addresses ----------------------------------------------------------------------------
    @property
    def vip(self) -> str:
        return f"{self.prefix}.{VIP_HOST}"

    def address(self, node: str) -> str:
        names = [n.name for n in self.topology.nodes]
        if node not in names:
            self.topology.node(node)  # raises the friendly error
        return f"{self.prefix}.{FIRST_NODE_HOST + names.index(node)}"

    def node_of(self, address: str) -> str | None:
        for n in self.topology.nodes:
            if self.address(n.name) == address:
                return n.name
        return None

    @property
    def fleet_address(self) -> str:
        return f"{self.prefix}.{FLEET_HOST}"

    @property
    def vip_url(self) -> str:
        return f"http://{self.vip}:{self.ports.http}"

    @property
    def vip_https_url(self) -> str:
        return f"https://{self.vip}:{self.ports.https}"

    def app_url(self, node: str) -> str:
        return f"http://{self.address(node)}:{self.ports.app}"

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        return self.topology.nodes

    # -- persistence --------------------------------------------------------------------------
    def save(self) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        path = self.rundir / "layout.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        os.chmod(tmp, 0o600)  # holds the lab's generated secrets
        tmp.replace(path)

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "prefix": self.prefix, "backend": self.backend,
                "topology": self.topology.to_dict(), "ports": self.ports.__dict__,
                "secrets": self.secrets}

    @classmethod
    def load(cls, lab: str | None = None) -> Layout:
        lab = lab or default_lab_name()
        path = home() / lab / "layout.json"
        if not path.exists():
            raise LabError(f"no lab named {lab!r} is set up (nothing at {path})",
                           "start one with `labkit up`")
        data = json.loads(path.read_text())
        return cls(lab=data["lab"], topology=Topology.from_dict(data["topology"]),
                   prefix=data["prefix"], backend=data.get("backend", "local"),
                   ports=Ports(**data["ports"]), secrets=data["secrets"])

    @staticmethod
    def new_secrets() -> dict[str, str]:
        """Fresh credentials for one lab; never committed, never shared between labs."""
        return {k: secrets.token_urlsafe(18) for k in
                ("mysql_root", "mysql_app", "mysql_repl", "postgres", "postgres_repl",
                 "session_key", "cassandra", "netconf")}


def node_program_args(description: str | None) -> tuple[Layout, str]:
    """The lab and node a node's program serves, from the `--lab LAB --node NODE` its component
    starts it with."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    return Layout.load(args.lab), args.node
