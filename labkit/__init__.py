"""labkit: start a small real HA cluster, break it, and watch it heal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labkit.errors import LabError
from labkit.topology import Topology

if TYPE_CHECKING:
    from labkit.cluster import Cluster

__all__ = ["Cluster", "LabError", "Topology"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`labkit.Cluster` on first use: every node daemon imports this package, and the Cluster
    API (HTTP client, every tier's handles) would cost each of them ~30 MB and half a second."""
    if name == "Cluster":
        from labkit.cluster import Cluster

        return Cluster
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
