"""`Dashboard`: topology, controls, charts and the event log of one lab, refreshed live.

One background thread polls `Cluster.status()` and the event log about once a second and hands
the result to every view; each view sends only what changed. The thread stops on `stop()`, when
the dashboard is closed, or by itself when the lab goes down (it says so in the header).

In JupyterLab the dashboard docks in a panel beside the notebook (jupyterlab-sidecar), so it
stays in view while the learner scrolls through the lesson; elsewhere (nbval, a console) it is
displayed where it is asked for. One dashboard per kernel: a new one (a re-run cell, another
lesson's) stops the one before it, and the kernel's exit stops the last, so pollers and traffic
never pile up behind the learner.
"""

from __future__ import annotations

import atexit
import os
import time
from typing import TYPE_CHECKING, Any, ClassVar

import ipywidgets as widgets

from labkit import wait
from labkit.ui.background import Background
from labkit.ui.charts import DevicesChart, EventLog, LagChart, RequestsChart, SubJobsGantt
from labkit.ui.controls import Controls
from labkit.ui.topology import TopologyView
from labkit.ui.traffic import Traffic

if TYPE_CHECKING:
    from labkit.cluster import Cluster


class Dashboard(Background):
    """`display(Dashboard(lab))`, or `Dashboard(lab).show()`; `stop()` when done."""

    thread_name = "labkit-dashboard"
    join_timeout = 10.0
    #: the kernel's dashboard: the only one refreshing and sending traffic
    current: ClassVar[Dashboard | None] = None

    def __init__(self, cluster: Cluster, interval: float = 1.0, traffic: bool = False,
                 rate: float = 5.0, sticky: bool = False, start: bool = True) -> None:
        super().__init__()
        self.cluster = cluster
        self.interval = interval
        self.traffic = Traffic(cluster.vip_url, cluster.auth(), rate=rate, sticky=sticky)
        status = cluster.status()
        self.last_status: dict[str, Any] = status
        self.topology = TopologyView(status)
        self.controls = Controls(cluster, self.traffic)
        self.requests = RequestsChart()
        self.lag = LagChart()
        self.devices = DevicesChart()
        self.subjobs = SubJobsGantt()
        self.events = EventLog()
        self.header = widgets.HTML(self._header(status))
        self.header.add_class("labkit-header")
        self.refreshes = 0
        self._since = time.time() - 600
        charts = [self.requests.widget, self.lag.widget]
        if status.get("devices"):  # the device tier runs the jobs the Gantt chart draws
            charts += [self.devices.widget, self.subjobs.widget]
        self.widget = widgets.VBox([
            self.header,
            widgets.HBox([self.topology.widget], layout={"width": "100%"}),
            self.controls.widget,
            # one chart per row: plotly draws each about 700 px wide, wider than half a panel
            widgets.VBox(charts),
            widgets.HTML("<b>events</b>"), self.events.widget])
        self.widget.add_class("labkit-dashboard")
        self._replace_current()
        if traffic:
            self.controls.traffic_on.value = True
        if start:
            self.start()

    def _replace_current(self) -> None:
        previous, Dashboard.current = Dashboard.current, self
        if previous is not None and previous is not self:
            previous.stop()
            previous.header.value = previous._header(previous.last_status,
                                                     "replaced by a newer dashboard: stopped")

    def _header(self, status: dict[str, Any], note: str = "") -> str:
        tiers = [t for t in ("mysql", "postgres", "cassandra", "devices") if status.get(t)]
        return (f"<b>lab {status['lab']}</b> · {status['vip']['url']} · tiers: app"
                + "".join(f", {t}" for t in tiers) + (f" · <b>{note}</b>" if note else ""))

    # -- refresh ------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Poll once and update every view; returns False once the lab is down."""
        try:
            status = self.cluster.status()
        except Exception as exc:  # noqa: BLE001 - a view must outlive a failing poll
            if not self.cluster.layout.paths.layout.exists():
                self.header.value = f"<b>the lab is gone: {exc}</b>"
                return False
            # mid-fault a probe can fail (a node dying under it): say so and poll again
            self.header.value = f"<b>status failed, retrying: {type(exc).__name__}: {exc}</b>"
            return True
        if not status.get("running"):
            self.header.value = self._header(status, "the lab is down: refresh stopped")
            return False
        self.last_status = status
        self.topology.update(status)
        self.controls.update(status)
        self.requests.update(self.traffic.per_second())
        self.lag.update(status)
        self.devices.update(status)
        jobs = status.get("jobs") or {}
        if isinstance(jobs, dict) and jobs.get("subjobs"):
            self.subjobs.update(jobs["subjobs"])
        self.events.update(self.cluster.events(since=self._since))
        self.refreshes += 1
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                alive = self.refresh()
            except Exception as exc:  # noqa: BLE001 - one odd status must not stop the views
                self.header.value = f"<b>refresh failed, retrying: {type(exc).__name__}: {exc}</b>"
                alive = True
            if not alive:
                self.traffic.stop()
                break
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def stop(self) -> None:
        """Stop refreshing and stop the traffic (the lab itself keeps running)."""
        super().stop()
        self.traffic.stop()

    def wait_for(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        """Wait until `predicate(status)` is true in the dashboard's view; returns that status."""
        def seen() -> dict[str, Any] | None:
            st = self.cluster.status()
            return st if predicate(st) else None

        st = wait.until(seen, timeout, every=0.3)
        if st is None:
            raise TimeoutError(f"not seen within {timeout:.0f}s")
        return st

    def show(self, traffic: bool | None = None, rate: float | None = None,
             sticky: bool | None = None, dock: bool | None = None) -> Dashboard:
        """Display the dashboard (optionally switching the traffic on) and return it. `dock`:
        in the side panel (the default under JupyterLab) or here, under the cell."""
        from IPython.display import HTML, display

        if rate is not None:
            self.controls.rate.value = rate
        if sticky is not None:
            self.controls.sticky.value = sticky
        if traffic is not None:
            self.controls.traffic_on.value = traffic
        if (_in_jupyterlab() if dock is None else dock) and _dock(self.widget, self.cluster):
            display(HTML(f"<i>the dashboard of lab {self.cluster.layout.lab} is docked on the "
                         "right (it stays in view while you scroll); "
                         "<code>Dashboard(lab).show(dock=False)</code> shows it here</i>"))
        else:
            display(self.widget)
        return self

    def _ipython_display_(self) -> None:
        self.show()


#: the kernel's one docked panel, reused by every dashboard it shows (a re-run replaces the view)
_panel: Any = None


def _in_jupyterlab() -> bool:
    """A kernel a Jupyter server started for a notebook (JupyterLab sets its session's name)."""
    return bool(os.environ.get("JPY_SESSION_NAME"))


def _dock(widget: widgets.Widget, cluster: Cluster) -> bool:
    """Show `widget` in the kernel's side panel; False where jupyterlab-sidecar is missing."""
    global _panel
    try:
        from sidecar import Sidecar
    except ImportError:
        return False
    from IPython.display import display

    if _panel is None:
        _panel = Sidecar(title=f"labkit {cluster.layout.lab}", anchor="split-right")
    _panel.clear_output()
    with _panel:
        display(widget)
    return True


@atexit.register
def _stop_at_exit() -> None:
    """A kernel that shuts down stops its dashboard's poller and traffic first."""
    if Dashboard.current is not None:
        Dashboard.current.stop()
