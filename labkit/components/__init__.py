"""One module per real server of the lab; `all_components()` lists them in start order."""

from __future__ import annotations

from labkit.components.base import Component, NodeContext, Program


def all_components() -> list[Component]:
    """Every component, in the order their nodes' programs should come up."""
    from labkit.components.apache import Apache
    from labkit.components.appserver import AppServer
    from labkit.components.fleet import Fleet
    from labkit.components.mariadb import MariaDB
    from labkit.components.postgres import Postgres
    from labkit.components.vrrp import Vrrp

    return [MariaDB(), Postgres(), Apache(), Vrrp(), AppServer(), Fleet()]


__all__ = ["Component", "NodeContext", "Program", "all_components"]
