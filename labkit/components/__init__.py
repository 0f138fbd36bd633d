"""One module per real server of the lab; `all_components()` lists them in start order."""

from __future__ import annotations

from labkit.components.base import Component, NodeContext, Program


def all_components(backend: str = "local") -> list[Component]:
    """Every component, in the order their nodes' programs should come up. The VIP's election
    is the one part that differs by backend: labkit's own VRRP daemon behind the local network
    segment, keepalived moving a real address on compose."""
    from labkit.components.apache import Apache
    from labkit.components.appserver import AppServer
    from labkit.components.cassandra import Cassandra
    from labkit.components.fleet import Fleet
    from labkit.components.keepalived import Keepalived
    from labkit.components.mariadb import MariaDB
    from labkit.components.postgres import Postgres
    from labkit.components.vrrp import Vrrp

    vip = Keepalived() if backend == "compose" else Vrrp()
    return [MariaDB(), Postgres(), Apache(), vip, AppServer(), Fleet(), Cassandra()]


__all__ = ["Component", "NodeContext", "Program", "all_components"]
