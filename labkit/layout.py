"""Where a lab lives: its run directory, its /24 of loopback addresses, ports and secrets.

A `Layout` is everything derived from (lab name, topology, network) that every component needs to
render its configuration. It is written to `<run dir>/layout.json` by `up`, so `Cluster.attach()`
and the node daemons read the same facts the lab was started with.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit import atomic, names
from labkit.errors import LabError
from labkit.topology import NodeSpec, Topology

VIP_HOST = 100  #: the VIP is <prefix>.100
FIRST_NODE_HOST = 11  #: node1 is <prefix>.11, node2 .12, ...
FLEET_HOST = 200  #: the device fleet's first address (devices take .200 and up)
#: the REST NBI's users and their roles: the learner works, the admin may also delete
NBI_USERS = {"learner": "user", "admin": "admin"}
#: backends where each node has its own network stack on a real bridge (containers, network
#: namespaces): the VIP is an address keepalived moves, and multicast crosses the bridge
OWN_NETWORK_STACKS = ("compose", "netns")


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


def rundir_of(lab: str) -> RunDir:
    """The run directory of the lab named `lab` (which may not be set up yet). The name is
    checked first: `--lab ../x` must not become a path outside LABKIT_HOME."""
    return RunDir(home() / names.check_lab_name(lab))


def up_log() -> Path:
    """Where `binder/start` writes the log of the `labkit up` it runs in the background."""
    return home() / "up.log"


def up_pid() -> Path:
    """The pid of the background `labkit up` that `binder/start` runs (alive while it starts)."""
    return home() / "up.pid"


@dataclass(frozen=True)
class RunDir:
    """Every path of one lab's run directory, named once (Containerlab's lab-directory object).

    These file names are a contract between processes: the VRRP daemon writes `vrrp.json` and
    `status` reads it, the backend writes `isolated.json` and the segment and the membership
    daemons read it. Nothing else in labkit spells them; a server's private files below its own
    service directory (`nodes/<node>/<service>/`) belong to that server's component.
    """

    root: Path

    # -- the lab as a whole -------------------------------------------------------------------
    @property
    def layout(self) -> Path:
        return self.root / "layout.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def tls(self) -> Path:
        """The lab's certificate authority and the VIP's certificate (`tls.ensure_certificate`)."""
        return self.root / "tls"

    @property
    def certificate(self) -> Path:
        return self.tls / "cert.pem"

    @property
    def starting(self) -> Path:
        """The pid of a `labkit up` that is starting (or mending) this lab, while it runs."""
        return self.root / "starting.pid"

    @property
    def faults(self) -> Path:
        """node → fault mode, as the local (or netns) backend last set it."""
        return self.root / "faults.json"

    @property
    def progress(self) -> Path:
        """The learner's predictions and checks, lesson by lesson (`labkit.ui.course`)."""
        return self.root / "progress.json"

    @property
    def links(self) -> Path:
        """The link faults in force (cuts, partitions, lossy or slow links), as last applied."""
        return self.root / "links.json"

    @property
    def links_lock(self) -> Path:
        """Held while the link rules change: the CLI's verbs and the flapper never interleave."""
        return self.root / "links.lock"

    @property
    def isolated(self) -> Path:
        """The isolated nodes, for the daemons that enforce isolation where no firewall does."""
        return self.root / "isolated.json"

    @property
    def segment(self) -> Path:
        """The local network segment's view: the VIP's owner and who claims it."""
        return self.root / "segment.json"

    def witness(self, tier: str) -> Path:
        """The database pair's term record (epoch, active, alone)."""
        return self.root / "witness" / f"{tier}.json"

    @property
    def lab_services(self) -> Path:
        """The lab-wide supervisor's home (the network segment, the device fleet)."""
        return self.root / "lab"

    @property
    def holder(self) -> Path:
        """The pid of a rootless netns lab's holder, the process whose user, network and mount
        namespaces the lab lives in (labkit.backends.netns.holder)."""
        return self.lab_services / "holder.pid"

    @property
    def holder_ready(self) -> Path:
        """Written by the holder once the lab's namespaces and its forwarder are up."""
        return self.lab_services / "holder.ready"

    @property
    def holder_log(self) -> Path:
        return self.lab_services / "holder.log"

    @property
    def fleet(self) -> Path:
        return self.lab_services / "fleet"

    @property
    def forkserver(self) -> Path:
        """The socket of the process the lab's Python daemons are forked from (`forkserver`)."""
        return self.lab_services / "forkserver.sock"

    # -- one node -----------------------------------------------------------------------------
    def node(self, node: str) -> Path:
        return self.root / "nodes" / node

    def logs(self, node: str) -> Path:
        return self.node(node) / "log"

    def log(self, node: str, program: str) -> Path:
        """What supervisord captured of one program (its stdout and stderr)."""
        return self.logs(node) / f"{program}.log"

    def service(self, node: str, service: str) -> Path:
        """A server's own directory on a node (`mysql`, `postgres`, `cassandra`, `keepalived`)."""
        return self.node(node) / service

    def vrrp(self, node: str) -> Path:
        """The node's VRRP state (master/backup), written by its VRRP daemon or keepalived."""
        return self.node(node) / "vrrp.json"

    def membership(self, node: str) -> Path:
        """The app server's published membership view."""
        return self.node(node) / "membership.json"

    def watcher(self, node: str, tier: str) -> Path:
        """A database watcher's memory (the epoch it last streamed in)."""
        return self.node(node) / f"{tier}watch.json"

    def mysql_pid(self, node: str) -> Path:
        return self.service(node, "mysql") / "run" / "mysqld.pid"

    def postgres_data(self, node: str) -> Path:
        return self.service(node, "postgres") / "data"

    def postgres_pid(self, node: str) -> Path:
        return self.postgres_data(node) / "postmaster.pid"

    def mysql_diverged(self, node: str, stamp: str) -> Path:
        """A dump of what a diverged MySQL instance held before its re-seed threw it away."""
        return self.service(node, "mysql") / f"diverged-{stamp}.sql"

    def postgres_rejoining(self, node: str) -> Path:
        """Present while a demoted primary is being rewound to follow the new one."""
        return self.service(node, "postgres") / "rejoining"

    # -- chaos runs ---------------------------------------------------------------------------
    def chaos_run(self, run: str) -> Path:
        """One chaos run's files (`run` is e.g. 20261202-161800-seed7)."""
        return self.root / "chaos" / run

    def chaos_history(self, run: str) -> Path:
        """Every operation of the run, invoke and completion, as JSON lines."""
        return self.chaos_run(run) / "history.jsonl"

    def chaos_timeline(self, run: str) -> Path:
        """The run's timeline: operations, fault bands, availability (self-contained HTML)."""
        return self.chaos_run(run) / "timeline.html"


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
    def paths(self) -> RunDir:
        """Every named path of the run directory."""
        return rundir_of(self.lab)

    @property
    def rundir(self) -> Path:
        return self.paths.root

    @property
    def events_path(self) -> Path:
        return self.paths.events

    def node_dir(self, node: str) -> Path:
        return self.paths.node(node)

    def log_dir(self, node: str) -> Path:
        return self.paths.logs(node)

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
    def own_network_stacks(self) -> bool:
        """Each node has its own network stack (compose, netns), not a shared loopback."""
        return self.backend in OWN_NETWORK_STACKS

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
        # holds the lab's generated secrets: private from its first byte
        atomic.write_json(self.paths.layout, self.to_dict(), mode=0o600, indent=2)

    def to_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "prefix": self.prefix, "backend": self.backend,
                "topology": self.topology.to_dict(), "ports": self.ports.__dict__,
                "secrets": self.secrets}

    @classmethod
    def load(cls, lab: str | None = None) -> Layout:
        lab = lab or default_lab_name()
        path = rundir_of(lab).layout
        if not path.exists():
            raise LabError(f"no lab named {lab!r} is set up (nothing at {path})",
                           "start one with `labkit up`")
        data = json.loads(path.read_text())
        return cls(lab=data["lab"], topology=Topology.from_saved(data["topology"]),
                   prefix=data["prefix"], backend=data.get("backend", "local"),
                   ports=Ports(**data["ports"]), secrets=data["secrets"])

    @staticmethod
    def new_secrets() -> dict[str, str]:
        """Fresh credentials for one lab; never committed, never shared between labs."""
        return {k: secrets.token_urlsafe(18) for k in
                ("mysql_root", "mysql_app", "mysql_repl", "postgres", "postgres_repl",
                 "session_key", "cassandra", "netconf", "vrrp_auth")} | {
            f"nbi_{user}": secrets.token_urlsafe(18) for user in NBI_USERS}

    # -- the NBI's users ----------------------------------------------------------------------
    def nbi_auth(self, user: str = "learner") -> tuple[str, str]:
        """HTTP Basic credentials for the NBI (what `httpx`'s `auth=` takes)."""
        return user, self.nbi_password(user)

    def nbi_password(self, user: str) -> str:
        """`user`'s NBI password. Labs set up before the NBI asked for one derive it from their
        session key, so they keep working."""
        if user not in NBI_USERS:
            raise LabError(f"the NBI has no user {user!r}",
                           f"its users are {', '.join(NBI_USERS)}")
        return self.secrets.get(f"nbi_{user}") or hashlib.sha256(
            f"nbi_{user}:{self.secrets['session_key']}".encode()).hexdigest()[:24]


def node_program_args(description: str | None) -> tuple[Layout, str]:
    """The lab and node a node's program serves, from the `--lab LAB --node NODE` its component
    starts it with."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    return Layout.load(args.lab), args.node
