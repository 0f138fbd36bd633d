"""The gap/timer curve (issue 17): the VIP gap when its owner crashes, against the VRRP advert
interval, beside the interval's own limit.

A backup declares the master dead after Master_Down_Interval = 3 × Advertisement_Interval +
Skew_Time, Skew_Time = (256 − priority) × Advertisement_Interval / 256 (RFC 5798 §6.1); the
client-visible gap cannot be shorter. For each advert interval a small lab is started (two
nodes with the `lb` and `app` roles, no databases, no devices: only the VIP's path), the owner
is crashed a few times, and the gap's p50 and p99 are written beside the master-down interval
of the node that took over. The curve is drawn as a self-contained SVG (bench/gap-vs-advert.svg),
shown in bench/RESULTS.md: no plotting library, no browser.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench import spine
from bench.figures import Figure, percentile
from labkit import Cluster, LabError
from labkit.lb.election import master_down_interval
from labkit.topology import DevicesSpec, NodeSpec, Topology, VrrpSpec

HERE = Path(__file__).parent
SVG = HERE / "gap-vs-advert.svg"
LAB = "bench-curve"
ADVERTS = (0.1, 0.2, 0.5, 1.0)
PRIORITIES = {"node1": 100, "node2": 90}


def topology(advert: float) -> Topology:
    """Two LB + app nodes and nothing else: the VIP's failover alone, at this advert interval."""
    return Topology(nodes=tuple(NodeSpec(n, ("lb", "app"), priority=p)
                                for n, p in PRIORITIES.items()),
                    vrrp=VrrpSpec(advert_interval=advert), devices=DevicesSpec(count=0))


def name(what: str, advert: float) -> str:
    return f"{what}_advert_{advert:g}"


def curve(runs: int = 5, adverts: Iterable[float] = ADVERTS) -> list[Figure]:
    """Per advert interval: a fresh small lab, `runs` crashes of the VIP owner, the gaps."""
    figures: list[Figure] = []
    for advert in adverts:
        with contextlib.suppress(LabError):  # nothing to tear down
            Cluster.attach(LAB, wait=0).down(purge=True)
        lab = Cluster.up(lab=LAB, backend="local", topology=topology(advert))
        try:
            gaps, limits, takeovers, delivered = [], [], [], []
            for _ in range(runs):
                since = time.time()
                gap, new, _ = spine.gap_once(lab, "crash")
                gaps.append(gap)
                limits.append(master_down_interval(advert, PRIORITIES.get(new, 100)))
                evs = lab.events(since)
                took, moved = takeover(evs, new), takeover(evs, new, delivered=True)
                if took is not None:
                    takeovers.append(took)
                if moved is not None:
                    delivered.append(moved)
        finally:
            lab.down(purge=True)
        how = (f"{runs} runs on a 2-node lab (lb, app; VRRP advert {advert:g} s): crash the VIP "
               "owner; from before the fault a new GET /health through the VIP every "
               "10 ms, each on its own connection, until one is answered by the other node")
        figures += [
            Figure(name("vip_gap_crash_p50", advert), percentile(gaps, 50), "s", how),
            Figure(name("vip_gap_crash_p99", advert), percentile(gaps, 99), "s", how),
            Figure(name("master_down", advert), percentile(limits, 50), "s",
                   "3 × advert + skew ((256 − priority) × advert / 256) of the node that took "
                   "over, p50 over the runs; the backup's timer runs from the last advert it "
                   "heard, so VRRP alone takes between this minus one advert and this"),
            Figure(name("vrrp_takeover_p50", advert), percentile(takeovers, 50), "s",
                   f"{len(takeovers)} of {runs} runs: from the fault (its event's `at`) to the "
                   "new owner's `vrrp` MASTER event: VRRP's part of the gap"),
            Figure(name("vip_delivered_p50", advert), percentile(delivered, 50), "s",
                   f"{len(delivered)} of {runs} runs: from the fault to the `vip` event giving "
                   "the VIP's traffic to the new owner (the local segment, or keepalived)"),
        ]
    return figures


def takeover(evs: Iterable[Mapping[str, Any]], new: str, delivered: bool = False
             ) -> float | None:
    """Seconds from the crash (the `fault` event's `at`) to `new` announcing itself MASTER
    (its `vrrp` event), or with `delivered` to the VIP's traffic going to it (a `vip` event)."""
    evs = list(evs)
    crashed = next((ev.get("at", ev["ts"]) for ev in evs
                    if ev.get("kind") == "fault" and ev.get("mode") == "crash"), None)
    if crashed is None:
        return None
    master = next((ev["ts"] for ev in evs if ev["ts"] >= crashed and (
        (ev.get("kind") == "vrrp" and ev.get("node") == new and ev.get("state") == "master")
        if not delivered else (ev.get("kind") == "vip" and ev.get("owner") == new))), None)
    return None if master is None else master - crashed


#: what the curve draws: (figure, legend, colour, SVG dash); the first three must be measured
SERIES = (("vip_gap_crash_p50", "gap p50", "#1f77b4", ""),
          ("vip_gap_crash_p99", "gap p99", "#d62728", ""),
          ("master_down", "master-down", "#555", ' stroke-dasharray="5,4"'),
          ("vrrp_takeover_p50", "VRRP takeover p50", "#2ca02c", ' stroke-dasharray="2,3"'))

Point = tuple[float, dict[str, float]]


def points(figures: Iterable[Figure]) -> list[Point]:
    """(advert, {series: seconds}) for each advert interval whose gap and limit were measured."""
    by = {f.name: f.value for f in figures}
    out = []
    for advert in ADVERTS:
        values = {w: by.get(name(w, advert)) for w, *_ in SERIES}
        if all(values[w] is not None for w, *_ in SERIES[:3]):
            out.append((advert, {w: v for w, v in values.items()
                                 if v is not None and v == v}))  # v == v: not NaN
    return out


def svg(pts: list[Point], width: int = 600, height: int = 360) -> str:
    """The curve as one small SVG: each series (seconds) against the advert interval
    (seconds), linear axes from 0."""
    left, right, top, bottom = 60, 170, 20, 50
    xmax = max([a for a, _ in pts] + [1.0])
    ymax = max([v for _, vals in pts for v in vals.values()] + [1.0]) * 1.1

    def x(v: float) -> float:
        return left + v / xmax * (width - left - right)

    def y(v: float) -> float:
        return height - bottom - v / ymax * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{x(xmax)}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{top}" stroke="black"/>']
    for t in ADVERTS:
        if t <= xmax:
            out.append(f'<text x="{x(t):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle">{t:g}'
                       '</text>')
    step = 0.5 if ymax <= 4 else 1.0
    k = 0.0
    while k <= ymax:
        out.append(f'<text x="{left - 6}" y="{y(k) + 4:.1f}" text-anchor="end">{k:g}</text>')
        out.append(f'<line x1="{left}" y1="{y(k):.1f}" x2="{x(xmax):.1f}" y2="{y(k):.1f}" '
                   'stroke="#ddd"/>')
        k += step
    out.append(f'<text x="{(left + x(xmax)) / 2:.1f}" y="{height - 12}" text-anchor="middle">'
               'VRRP advert interval (s)</text>')
    out.append(f'<text x="16" y="{(top + y(0)) / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 16 {(top + y(0)) / 2:.1f})">seconds</text>')
    for i, (series, label, colour, dash) in enumerate(SERIES):
        mine = [(a, vals[series]) for a, vals in pts if series in vals]
        if not mine:
            continue
        line = " ".join(f"{x(a):.1f},{y(v):.1f}" for a, v in mine)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                   f'stroke-width="2"{dash}/>')
        out += [f'<circle cx="{x(a):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>'
                for a, v in mine]
        ly = top + 14 + 18 * i
        out.append(f'<line x1="{width - right + 12}" y1="{ly - 4}" x2="{width - right + 36}" '
                   f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{width - right + 42}" y="{ly}">{label}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw(figures: Iterable[Figure], path: Path = SVG) -> Path | None:
    """Write the SVG when at least one advert interval was measured."""
    pts = points(figures)
    if not pts:
        return None
    path.write_text(svg(pts))
    return path
