"""The dashboard's charts. Each keeps what it last drew and only sends changes to the browser."""

from __future__ import annotations

import datetime as dt
import html
import time
from collections import deque
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from labkit.ui import model

_SMALL = {"height": 240, "margin": {"l": 40, "r": 10, "t": 30, "b": 30}}


def _sync_traces(fig: go.FigureWidget, series: dict[str, tuple[list, list]], **style: Any) -> None:
    """Make the figure's traces exactly `series` ({name: (x, y)}), adding traces by name."""
    with fig.batch_update():
        have = {t.name: t for t in fig.data}
        for name, (xs, ys) in series.items():
            if name in have:
                have[name].x, have[name].y = xs, ys
            else:
                fig.add_scatter(x=xs, y=ys, name=name, **style)
        for name, trace in have.items():
            if name not in series:
                trace.x, trace.y = [], []


class RequestsChart:
    """Answers per app node per second, from a `Traffic` generator: round-robin made visible."""

    def __init__(self) -> None:
        self.figure = go.FigureWidget(layout=go.Layout(title="requests per app node (per s)",
                                                       **_SMALL))
        self.widget = self.figure
        self._shown: Any = None

    def update(self, per_second: dict[str, list[tuple[int, int]]], window: int = 60) -> bool:
        now = int(time.time())
        series = {node: ([dt.datetime.fromtimestamp(s) for s, _ in pts if s > now - window],
                         [n for s, n in pts if s > now - window])
                  for node, pts in sorted(per_second.items())}
        if series == self._shown:
            return False
        _sync_traces(self.figure, series, mode="lines+markers")
        self._shown = series
        return True


class LagChart:
    """Replica lag (seconds) of each database tier the lab has, over the last `keep` samples."""

    def __init__(self, keep: int = 120) -> None:
        self.figure = go.FigureWidget(layout=go.Layout(title="replica lag (s)", **_SMALL))
        self.widget = self.figure
        self.history: dict[str, deque[tuple[dt.datetime, float]]] = {}
        self.keep = keep

    def update(self, status: dict[str, Any]) -> bool:
        lags = model.lags(status)
        if not lags:
            return False
        now = dt.datetime.now()
        for tier, lag in lags.items():
            self.history.setdefault(tier, deque(maxlen=self.keep)).append((now, lag))
        _sync_traces(self.figure, {t: ([p[0] for p in h], [p[1] for p in h])
                                   for t, h in self.history.items()}, mode="lines")
        return True


class DevicesChart:
    """How many devices each node serves (empty until the lab has devices)."""

    def __init__(self) -> None:
        self.figure = go.FigureWidget(data=[go.Bar(x=[], y=[], name="devices")],
                                      layout=go.Layout(title="devices per node", **_SMALL))
        self.widget = self.figure
        self._shown: Any = None

    def update(self, status: dict[str, Any]) -> bool:
        per = model.devices_per_node(status)
        shown = (sorted(per), [len(per[n]) for n in sorted(per)])
        if shown == self._shown:
            return False
        self.figure.data[0].x, self.figure.data[0].y = shown
        self._shown = shown
        return True


class SubJobsGantt:
    """One job's sub-jobs as bars on a timeline, one row per node that ran them.

    `update(subjobs)` takes dicts with `node`, `start`, `end` (Unix times; `end` None = running)
    and optionally `name` and `state`, the shape the device tier's job API returns.
    """

    def __init__(self) -> None:
        self.figure = go.FigureWidget(layout=go.Layout(title="sub-jobs", barmode="overlay",
                                                       **_SMALL))
        self.widget = self.figure
        self._shown: Any = None

    def update(self, subjobs: list[dict[str, Any]]) -> bool:
        if subjobs == self._shown:
            return False
        now = time.time()
        with self.figure.batch_update():
            self.figure.data = []
            for sj in subjobs:
                end = sj.get("end") or now
                self.figure.add_bar(
                    base=[dt.datetime.fromtimestamp(sj["start"])],
                    x=[(end - sj["start"]) * 1000], y=[sj["node"]], orientation="h",
                    name=sj.get("name", ""), showlegend=False,
                    hovertext=f"{sj.get('name', '')} {sj.get('state', '')}",
                    marker_color=model.STATE_COLOURS.get(sj.get("state", "up"), "#2ca02c"))
            self.figure.layout.xaxis.type = "date"
        self._shown = [dict(sj) for sj in subjobs]
        return True


class EventLog:
    """The newest events of the lab (VIP moves, faults, failovers), newest first."""

    def __init__(self, rows: int = 12) -> None:
        self.rows = rows
        self.widget = widgets.HTML("<i>no events yet</i>")
        self.widget.add_class("labkit-events")
        self._last_ts = -1.0

    def update(self, events: list[dict[str, Any]]) -> bool:
        if not events or events[-1]["ts"] == self._last_ts:
            return False
        self._last_ts = events[-1]["ts"]
        lines = []
        for ev in reversed(events[-self.rows:]):
            when = dt.datetime.fromtimestamp(ev["ts"]).strftime("%H:%M:%S")
            lines.append(f"<tr><td>{when}</td><td>{html.escape(ev.get('kind', ''))}</td>"
                         f"<td>{html.escape(str(ev.get('message', '')))}</td></tr>")
        self.widget.value = ("<table style='font-family:monospace;font-size:12px'>"
                             + "".join(lines) + "</table>")
        return True
