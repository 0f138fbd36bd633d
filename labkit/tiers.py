"""The one list of the lab's tiers (Containerlab's registry of node kinds).

Everything that differs by tier is derived from `TIERS`: the servers started on each node and
their start order (`components`), the topology's known roles, the NBI routers each app server
mounts, the chaos workloads, the `Cluster` handles (`lab.mysql`, `lab.files`, ...) and the CLI
sub-commands (`labkit files`, `labkit devices`, ...). Adding a tier is a package of its own and
one entry here.

The entries name code by import path ("package.module:attribute") and import nothing: this module
is ground, so the topology can take its roles from here and each consumer imports only the
tiers it uses, when it uses them (a node daemon never loads the notebooks' API).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Tier:
    """One tier of the cluster and the places where it plugs in."""

    name: str
    #: the package that holds everything of the tier: its servers, routes, daemons, handle,
    #: chaos workloads and CLI (several tiers may share one: both database pairs live in db/)
    package: str
    #: the topology role that places this tier's servers on a node ("lab": the lab-wide
    #: supervisor, on no node; None: a tier with no server of its own)
    role: str | None
    #: its servers, in start order: "module:Class" of a `components.base.Component`; a dict
    #: gives one per backend where they differ (the VIP: our VRRP daemon, or keepalived)
    components: tuple[str | dict[str, str], ...] = ()
    #: a module with `install(app)` that adds the tier's REST routes to every app server
    routes: str | None = None
    #: a module with `workloads(lab) -> list[Workload]` for the chaos run
    workloads: str | None = None
    #: `Cluster` attribute → "module:factory" called with the Cluster, giving its handle
    handles: dict[str, str] = field(default_factory=dict)
    #: `labkit` sub-command → "module:attribute" of a typer app
    commands: dict[str, str] = field(default_factory=dict)


TIERS: tuple[Tier, ...] = (
    Tier("mysql", "labkit.db", "mysql",
         components=("labkit.db.mysql_server:MariaDB",),
         routes="labkit.db.mysql_routes",
         workloads="labkit.db.chaos",
         handles={"mysql": "labkit.db.handles:MySQLTier.of"},
         commands={"db": "labkit.db.commands:app"}),
    Tier("postgres", "labkit.db", "postgres",
         components=("labkit.db.pg_server:Postgres",),
         routes="labkit.db.pg_routes",
         handles={"postgres": "labkit.db.handles:PostgresTier.of"}),
    Tier("lb", "labkit.lb", "lb",
         components=("labkit.lb.apache:Apache",
                     {"local": "labkit.lb.vrrp:Vrrp",
                      "compose": "labkit.lb.keepalived:Keepalived",
                      "netns": "labkit.lb.keepalived:Keepalived"})),
    Tier("app", "labkit.appserver", "app",
         components=("labkit.appserver.server:AppServer",),
         workloads="labkit.appserver.chaos"),
    Tier("devices", "labkit.devices", "lab",
         components=("labkit.devices.server:Fleet",),
         routes="labkit.devices.routes",
         workloads="labkit.devices.chaos",
         handles={"devices": "labkit.devices.handle:DevicesTier"},
         commands={"devices": "labkit.devices.commands:devices_app",
                   "jobs": "labkit.devices.commands:jobs_app"}),
    Tier("files", "labkit.cassandra", "cassandra",
         components=("labkit.cassandra.server:Cassandra",),
         routes="labkit.cassandra.routes",
         workloads="labkit.cassandra.chaos",
         handles={"files": "labkit.cassandra.nbi:FilesClient.of"},
         commands={"files": "labkit.cassandra.commands:app"}),
)

#: the roles a topology may give a node (the lab-wide "lab" is no node's role)
ROLES: tuple[str, ...] = tuple(t.role for t in TIERS if t.role not in (None, "lab"))


def load(path: str) -> Any:
    """The object an entry names: "package.module:Attr.attr" (the part after ':' may be
    dotted, e.g. a classmethod)."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def component_paths(backend: str) -> list[str]:
    """Every server's "module:Class", in start order, for one backend."""
    out = []
    for tier in TIERS:
        for entry in tier.components:
            out.append(entry[backend] if isinstance(entry, dict) else entry)
    return out


def handle_path(attribute: str) -> str | None:
    for tier in TIERS:
        if attribute in tier.handles:
            return tier.handles[attribute]
    return None
