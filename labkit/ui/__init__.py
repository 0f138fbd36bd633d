"""The learner's view of a running lab: a live dashboard built from `Cluster.status()`.

Each view (topology, controls, charts, traffic) works on its own; `Dashboard` composes them and
refreshes them from one background thread, so the learner's cells never wait for it.
"""

from labkit.ui.charts import DevicesChart, EventLog, LagChart, RequestsChart, SubJobsGantt
from labkit.ui.controls import Controls
from labkit.ui.dashboard import Dashboard
from labkit.ui.topology import TopologyView
from labkit.ui.traffic import Traffic

__all__ = ["Controls", "Dashboard", "DevicesChart", "EventLog", "LagChart", "RequestsChart",
           "SubJobsGantt", "TopologyView", "Traffic"]
