"""The topology picture: the NetworkX graph of `model.build_graph`, drawn as a Plotly FigureWidget.

`update(status)` redraws only when something a learner could see has changed (states, VIP owner,
lag labels), so a 1 Hz refresh sends nothing to the browser while the lab is quiet.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from labkit.ui import model


def figure_data(status: dict[str, Any]) -> dict[str, Any]:
    """Everything the figure shows, as plain lists (what `update` compares and the tests check)."""
    g = model.build_graph(status)
    pos = model.layered_positions(g)
    edges: dict[str, tuple[list, list]] = {k: ([], []) for k in EDGE_KINDS}
    labels = []
    for a, b, d in g.edges(data=True):
        xs, ys = edges[d.get("impaired") or ("active" if d.get("active") else "plain")]
        (x0, y0), (x1, y1) = pos[a], pos[b]
        xs += [x0, x1, None]
        ys += [y0, y1, None]
        if d.get("label") and d.get("replication"):
            labels.append({"x": (x0 + x1) / 2 + 0.1, "y": (y0 + y1) / 2, "text": d["label"]})
    links = model.machine_links(status, g)
    for link in links:  # a bracket from one machine's band to the other's
        xs, ys = edges[link["kind"]]
        xs += [link["x"] - 0.08, link["x"], link["x"], link["x"] - 0.08, None]
        ys += [link["y0"], link["y0"], link["y1"], link["y1"], None]
    names = list(g.nodes)
    return {
        "edges": {k: {"x": v[0], "y": v[1]} for k, v in edges.items()},
        "nodes": {"x": [pos[v][0] for v in names], "y": [pos[v][1] for v in names],
                  "text": [g.nodes[v]["label"] for v in names],
                  "color": [model.STATE_COLOURS.get(g.nodes[v]["state"], "#7f7f7f")
                            for v in names],
                  "symbol": ["star" if g.nodes[v].get("owner") else "circle" for v in names],
                  "hover": [f"{v}: {g.nodes[v]['state']}" for v in names]},
        "labels": labels,
        "owner": model.vip_owner(status),
        "links": model.links_line(status),
        "machines": model.machines(status, g),
        "machine_links": links,
    }


#: how each kind of edge is drawn: in the trace of that name, in this order
EDGE_KINDS = ("plain", "active", "cut", "degraded")
LINK_COLOURS = {"cut": "#d62728", "degraded": "#ff7f0e"}


class TopologyView:
    """The graph plus a one-line header naming the VIP owner (`.widget` to display)."""

    def __init__(self, status: dict[str, Any] | None = None) -> None:
        self.figure = go.FigureWidget(
            data=[go.Scatter(mode="lines", line={"color": "#c7c7c7", "width": 1},
                             hoverinfo="skip", name="links"),
                  go.Scatter(mode="lines", line={"color": "#555", "width": 3},
                             hoverinfo="skip", name="in use"),
                  go.Scatter(mode="lines", line={"color": "#d62728", "width": 2, "dash": "dash"},
                             hoverinfo="skip", name="cut link"),
                  go.Scatter(mode="lines", line={"color": "#ff7f0e", "width": 2, "dash": "dot"},
                             hoverinfo="skip", name="lossy or slow link"),
                  go.Scatter(mode="markers+text", textposition="bottom center",
                             marker={"size": 22, "line": {"width": 1, "color": "#333"}},
                             hoverinfo="text", name="servers")],
            layout=go.Layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                             showlegend=False, title="topology", plot_bgcolor="white",
                             xaxis={"visible": False, "range": [-0.5, 7.6]},
                             yaxis={"visible": False}))
        self.owner = widgets.HTML("VIP owner: ?")
        self.owner.add_class("labkit-vip-owner")
        self.legend = widgets.HTML(legend_html())
        self.widget = widgets.VBox([self.owner, self.figure, self.legend])
        self._shown: dict[str, Any] | None = None
        if status is not None:
            self.update(status)

    def update(self, status: dict[str, Any]) -> bool:
        """Redraw if anything visible changed; returns whether it did."""
        data = figure_data(status)
        if data == self._shown:
            return False
        owner = data["owner"] or "nobody"
        links = f" · links: <b class='labkit-links'>{data['links']}</b>" if data["links"] else ""
        self.owner.value = f"VIP owner: <b class='labkit-owner'>{owner}</b>{links}"
        with self.figure.batch_update():
            for trace, key in zip(self.figure.data, EDGE_KINDS, strict=False):
                trace.x, trace.y = data["edges"][key]["x"], data["edges"][key]["y"]
            nodes = self.figure.data[len(EDGE_KINDS)]
            nodes.x, nodes.y, nodes.text = data["nodes"]["x"], data["nodes"]["y"], \
                data["nodes"]["text"]
            nodes.hovertext = data["nodes"]["hover"]
            nodes.marker.color = data["nodes"]["color"]
            nodes.marker.symbol = data["nodes"]["symbol"]
            self.figure.layout.shapes = [_machine_shape(m) for m in data["machines"]]
            self.figure.layout.annotations = [
                {"x": a["x"], "y": a["y"], "text": a["text"], "showarrow": False,
                 "font": {"size": 11, "color": "#1f77b4"}} for a in data["labels"]] + [
                {"x": model.MACHINE_SPAN[0] + 0.05, "y": m["y"] + 0.38, "xanchor": "left",
                 "text": f"<b>{m['node']}</b> {m['state']}", "showarrow": False,
                 "font": {"size": 11, "color": m["colour"]}} for m in data["machines"]] + [
                {"x": link["x"] + 0.03, "y": (link["y0"] + link["y1"]) / 2, "xanchor": "left",
                 "text": "✂" if link["kind"] == "cut" else "~", "showarrow": False,
                 "hovertext": f"{link['a']} ↔ {link['b']} {link['kind']}",
                 "font": {"size": 13, "color": LINK_COLOURS[link["kind"]]}}
                for link in data["machine_links"]]
        self._shown = data
        return True


def _machine_shape(m: dict[str, Any]) -> dict[str, Any]:
    """The band around one node's services, outlined in the colour of the node's state."""
    x0, x1 = model.MACHINE_SPAN
    return {"type": "rect", "layer": "below", "x0": x0, "x1": x1, "y0": m["y"] - 0.42,
            "y1": m["y"] + 0.48, "line": {"color": m["colour"], "width": 2},
            "fillcolor": "rgba(0,0,0,0.03)"}


def legend_html() -> str:
    """The colours' meanings, and what the marks and lines stand for."""
    dots = " ".join(f"<span style='color:{c}'>●</span> {what}" for c, what in model.LEGEND)
    return (f"<small>{dots} · ★ the VIP's owner · a box is one machine (node) · "
            "a bracket right of the boxes joins two machines whose link is faulted · "
            "<span style='color:#d62728'>- - -</span> cut link · "
            "<span style='color:#ff7f0e'>···</span> lossy or slow link</small>")
