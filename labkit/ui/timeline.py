"""Lesson 01's failover timeline: what the lab's event log and the lesson's own client saw when
the VIP's owner crashed, on one time axis (seconds since the fault).

The steps come from the events (`Cluster.events(since)`): the **fault** (`fault`, its `at` is
when the crash began), the backup's master-down interval expiring (`vrrp`, "nodeX is now
MASTER"), the **VIP delivered** to it (`vip`), and from the client's probes: the first request
that got no answer and the first good answer after it. Nothing here talks to the lab: the lesson
passes what it read, and a unit test passes a made-up list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

#: the three rows of the picture, top to bottom
LANES = ("lab events", "VRRP backup", "client")


@dataclass(frozen=True)
class Steps:
    """The failover's moments, as Unix times."""

    node: str  # the crashed owner
    new_owner: str
    fault: float  # the crash began
    master: float  # the backup's master-down interval expired: it became MASTER
    vip: float  # the VIP was delivered to the new master
    failed: float  # the first probe that got no answer
    answered: float  # the first good answer after it

    @property
    def gap(self) -> float:
        """What the client saw: from the first request without an answer to the next answer."""
        return self.answered - self.failed

    @property
    def waiting_for_vrrp(self) -> float:
        """The part of the gap before the backup became master: its master-down interval, less
        whatever of it had already run when the crash began (it counts from the last advert)."""
        return max(0.0, min(self.master, self.answered) - self.failed)

    @property
    def the_rest(self) -> float:
        """The part after: the VIP delivered, the new master's Apache answering through it."""
        return self.gap - self.waiting_for_vrrp


def failover_steps(events: Sequence[dict[str, Any]],
                   probes: Sequence[tuple[float, bool]]) -> Steps:
    """Find the steps of one owner crash in `events` (oldest first, from before the fault) and
    `probes` ((Unix time asked, answered?)). Raises LookupError saying which step is missing:
    a timeline without one would draw a story that did not happen."""
    fault = next((e for e in events if e.get("kind") == "fault" and e.get("mode") == "crash"),
                 None)
    if fault is None:
        raise LookupError("no crash in these events: read them from before the fault "
                          "(lab.events(since) with `since` taken before lab.fail)")
    node, began = str(fault.get("node")), float(fault.get("at", fault["ts"]))
    master = next((e for e in events if e.get("kind") == "vrrp" and e.get("state") == "master"
                   and e.get("node") != node and e["ts"] >= began), None)
    if master is None:
        raise LookupError(f"no backup became MASTER after {node} crashed: the VIP never moved "
                          "(was the crashed node the VIP's owner? is there a second load "
                          "balancer?)")
    vip = next((e for e in events if e.get("kind") == "vip" and e.get("owner") == master["node"]
                and e["ts"] >= began), None)
    if vip is None:
        raise LookupError(f"{master['node']} became MASTER but no VIP move to it is in the "
                          "events: read them again a moment later")
    failed = next((t for t, ok in probes if not ok and t >= began - 1.0), None)
    if failed is None:
        raise LookupError("the client never went without an answer: nothing to draw a gap from")
    answered = next((t for t, ok in probes if ok and t > failed), None)
    if answered is None:
        raise LookupError("the client got no good answer after the gap began: the VIP did not "
                          "answer again while it asked")
    return Steps(node=node, new_owner=str(master["node"]), fault=began, master=master["ts"],
                 vip=vip["ts"], failed=failed, answered=answered)


def failover_timeline(events: Sequence[dict[str, Any]], probes: Sequence[tuple[float, bool]],
                      master_down: float | None = None) -> go.Figure:
    """One plotly figure of the failover: the events as marked moments, the backup's
    `master_down` interval as a bar ending where it became MASTER (it started at the last advert
    it heard, which may be before the crash), every probe as a dot, and a red band over the gap."""
    s = failover_steps(events, probes)

    def rel(t: float) -> float:
        return round(t - s.fault, 3)

    fig = go.Figure()
    marks = [(s.fault, f"{s.node} crashed"), (s.master, f"{s.new_owner} is MASTER"),
             (s.vip, f"VIP → {s.new_owner}"), (s.answered, "first good answer")]
    if master_down is not None:
        fig.add_trace(go.Bar(base=[rel(s.master - master_down)], x=[master_down],
                             y=[LANES[1]], orientation="h", name="master-down interval",
                             marker_color="#9467bd", opacity=0.6,
                             hovertext=f"3 × advert + skew = {master_down:.2f} s"))
    fig.add_trace(go.Scatter(x=[rel(t) for t, _ in marks], y=[LANES[0]] * len(marks),
                             mode="markers+text", name="events", text=[w for _, w in marks],
                             textposition=["top center", "bottom center"] * 2,  # apart
                             marker={"size": 11, "color": "#1f77b4", "symbol": "diamond"}))
    for ok, name, colour in ((True, "answered", "#2ca02c"), (False, "no answer", "#d62728")):
        mine = [rel(t) for t, good in probes if good is ok]
        fig.add_trace(go.Scatter(x=mine, y=[LANES[2]] * len(mine), mode="markers", name=name,
                                 marker={"size": 6, "color": colour}))
    fig.add_vrect(x0=rel(s.failed), x1=rel(s.answered), fillcolor="#d62728", opacity=0.15,
                  line_width=0, annotation_text=f"no answer: {s.gap:.2f} s",
                  annotation_position="top left")
    for t, _ in marks:
        fig.add_vline(x=rel(t), line_dash="dot", line_color="grey", line_width=1)
    fig.update_layout(title=f"{s.node} crashed: the VIP moved to {s.new_owner}", height=320,
                      barmode="overlay", margin={"l": 100, "r": 20, "t": 50, "b": 40})
    fig.update_xaxes(title_text=f"seconds since {s.node} crashed")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(LANES)))
    return fig
