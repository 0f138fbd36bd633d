"""The run's timeline as one self-contained HTML file: every operation, fault bands, windows.

One row per client: a dot where each operation completed (green ok, red fail, orange info; an
info that hung is a line from its start to its end). Each fault is a shaded band from its start
to its recovery, labelled with its kind, target and the node it hit. Below, every tier's
per-window success ratio. plotly.js is written into the file (`include_plotlyjs=True`): a
learner on Binder has no internet, so a CDN link would show nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labkit.chaos.checker import Availability
from labkit.chaos.history import History, Op

COLOURS = {"ok": "#2ca02c", "fail": "#d62728", "info": "#ff7f0e"}
BANDS = {"crash": "#d62728", "freeze": "#1f77b4", "isolate": "#9467bd", "kill": "#8c564b"}


@dataclass(frozen=True)
class Band:
    """One fault as it happened: from when to when, what, and the node it hit."""

    start: float
    end: float
    mode: str
    label: str


def figure(history: History, bands: list[Band], windows: dict[str, Availability],
           title: str) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28],
                        vertical_spacing=0.05)
    ops = [op for op in history.ops if op.end is not None and not op.final]
    for outcome, colour in COLOURS.items():
        mine = [op for op in ops if op.type == outcome]
        fig.add_trace(go.Scattergl(
            x=[op.end for op in mine], y=[op.process for op in mine], mode="markers",
            marker={"size": 5, "color": colour}, name=outcome,
            text=[_label(op) for op in mine], hoverinfo="text+x"), row=1, col=1)
    for op in ops:  # hung operations: a line over the whole time nobody knew
        if op.type == "info" and op.end is not None and op.end - op.start > 1.0:
            fig.add_trace(go.Scatter(x=[op.start, op.end], y=[op.process, op.process],
                                     mode="lines", line={"color": COLOURS["info"], "width": 2},
                                     showlegend=False, hoverinfo="skip"), row=1, col=1)
    for tier, av in sorted(windows.items()):
        fig.add_trace(go.Scatter(x=[av.width * (i + 0.5) for i in range(len(av.windows))],
                                 y=av.windows, mode="lines", name=f"{tier} ok ÷ completed",
                                 line={"shape": "hv"}), row=2, col=1)
    for band in bands:
        fig.add_vrect(x0=band.start, x1=max(band.end, band.start + 0.3),  # a kill: thin band
                      fillcolor=BANDS.get(band.mode, "grey"), opacity=0.15, line_width=0,
                      annotation_text=band.label, annotation_position="top left",
                      annotation_font_size=9)
    fig.update_layout(title=title,
                      height=260 + 22 * len({op.process for op in ops}), hovermode="closest")
    fig.update_xaxes(title_text="seconds into the run", row=2, col=1)
    fig.update_yaxes(title_text="per window", range=[-0.05, 1.05], row=2, col=1)
    return fig


def _label(op: Op) -> str:
    what = f"{op.f} {op.value}" if op.value else op.f
    seen = f" saw {len(op.result)}" if op.result is not None else ""
    err = f" — {op.error}" if op.error else ""
    where = op.served or op.node or "?"
    return f"{op.process}: {what} on {where} → {op.type}{seen}{err}"


def write_timeline(history: History, bands: list[Band], windows: dict[str, Availability],
                   title: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = figure(history, bands, windows, title)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)  # no CDN: works offline
    return path
