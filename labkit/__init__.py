"""labkit: start a small real HA cluster, break it, and watch it heal."""

from labkit.cluster import Cluster
from labkit.errors import LabError
from labkit.topology import Topology

__all__ = ["Cluster", "LabError", "Topology"]
__version__ = "0.1.0"
