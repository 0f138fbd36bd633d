"""The managed-device fleet: simulated NETCONF devices beside the cluster, not on its nodes.

The fleet runs under the lab's own supervisor (role "lab", like the network segment), on the
fleet address `<prefix>.200`, one SSH port per device. How many devices and how fast they
answer come from the topology (`devices: {count, latency_ms, auto_rebalance}`); discovery is a
separate step (`labkit devices discover`).

This component also contributes the `devices`, `jobs` and `membership` sections of
`labkit status --json`.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from labkit import devices
from labkit.component import Component, NodeContext, Program

if TYPE_CHECKING:
    from labkit.layout import Layout

#: a view file older than this belongs to a node that stopped (crashed, frozen)
STALE_VIEW = 3.0


class Fleet(Component):
    role = "lab"
    programs = ("fleet",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        count = ctx.layout.topology.devices.count
        if not count:
            return []
        devices.ensure_host_key(ctx.layout)
        n = devices.shards(count)
        return [Program("fleet" if n == 1 else f"fleet{i}",
                        [sys.executable, "-m", "labkit.devices", "--lab", ctx.layout.lab,
                         "--shard", str(i), "--shards", str(n)],
                        priority=20, stopwaitsecs=5) for i in range(n)]

    def status(self, layout: Layout, live_nodes: list[str]) -> dict[str, Any] | None:
        out: dict[str, Any] = {"membership": membership_views(layout)}
        if layout.topology.devices.count and layout.topology.with_role("mysql"):
            out.update(device_sections(layout, live_nodes))
        return out


def membership_views(layout: Layout) -> dict[str, list[str] | None]:
    """Each app node's current view (None for a node that is not running)."""
    from labkit.appserver.membership import read_view

    views: dict[str, list[str] | None] = {}
    for n in layout.topology.with_role("app"):
        snap = read_view(layout, n.name)
        fresh = snap is not None and time.time() - snap.get("updated", 0) < STALE_VIEW
        views[n.name] = snap["view"] if fresh and snap else None
    return views


def device_sections(layout: Layout, live_nodes: list[str]) -> dict[str, Any]:
    """`devices` (counts per node, total, connected) and the latest job, from MySQL."""
    from labkit.devices.store import Store

    store = Store(layout, timeout=0.5, read_timeout=1.0)  # status must stay quick
    try:
        rows = store.summary()["rows"]
        latest = store.latest_job_id()
        job = store.job(latest) if latest else None
    except Exception as exc:  # noqa: BLE001 - status must show, not fail
        return {"devices": {"error": f"device tables unreadable: {str(exc)[:160]}",
                            "fleet": layout.topology.devices.count}}
    finally:
        store.close()
    apps = [n.name for n in layout.topology.with_role("app")]
    per_node: dict[str, list[str]] = {n: [] for n in apps}
    up: dict[str, int] = {n: 0 for n in apps}
    for r in rows:
        if r["node"]:
            per_node.setdefault(r["node"], []).append(r["name"])
        if r["session_node"] and r["session_node"] == r["node"] and r["node"] in live_nodes:
            up[r["node"]] = up.get(r["node"], 0) + 1
    section: dict[str, Any] = {"devices": {
        "total": len(rows), "connected": sum(up.values()), "fleet": layout.topology.devices.count,
        "counts": {n: len(d) for n, d in per_node.items()},
        "per_node": per_node,  # the dashboard draws these
        "instances": {n: {"devices": len(d), "connected": up.get(n, 0)}
                      for n, d in per_node.items()}}}
    if job is not None:
        section["jobs"] = job_section(job)
    return section


def job_section(job: dict[str, Any]) -> dict[str, Any]:
    """The latest job: its progress, its sub-jobs (the dashboard's timeline), one row each."""
    subjobs = [{k: v for k, v in sj.items() if k != "devices"} for sj in job["subjobs"]]
    took = job["duration"]
    return {"id": job["id"], "kind": job["kind"], "state": job["state"], "done": job["done"],
            "total": job["total"], "took": f"{took:.2f}s" if took is not None else None,
            "subjobs": subjobs,
            "instances": {f"sub-job {sj['id']}": {
                "node": sj["node"], "state": sj["state"], "done": f"{sj['done']}/{sj['total']}",
                "attempt": sj["attempt"],
                "took": f"{sj['duration']:.2f}s" if sj["duration"] is not None else ""}
                for sj in subjobs}}
