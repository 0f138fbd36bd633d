"""One module per real server of the lab; `all_components()` lists them in start order."""

from __future__ import annotations

from labkit import tiers
from labkit.components.base import Component, NodeContext, Program


def all_components(backend: str = "local") -> list[Component]:
    """Every component, in the order their nodes' programs should come up, as the tier
    registry lists them. The VIP's election is the one part that differs by backend: labkit's
    own VRRP daemon behind the local network segment, keepalived moving a real address on
    compose."""
    return [tiers.load(path)() for path in tiers.component_paths(backend)]


__all__ = ["Component", "NodeContext", "Program", "all_components"]
