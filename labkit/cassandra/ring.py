"""The ring as `nodetool status` would show it, read over CQL (the lab runs without JMX).

Each live node is asked directly for its gossip view (`system_views.gossip_info`: status, load,
tokens) and the hints it holds for peers that were away. A node
that does not answer within two seconds is shown down: `D` plus the last state its peers gossiped.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from cassandra.cluster import NoHostAvailable

from labkit.cassandra import client, config
from labkit.errors import LabError
from labkit.layout import Layout

PROBE_TIMEOUT = 2.0


def status(layout: Layout, live_nodes: list[str]) -> dict[str, Any]:
    """The `cassandra` section of `labkit status --json`."""
    ring = config.ring_nodes(layout)
    out: dict[str, Any] = {"keyspace": config.KEYSPACE,
                           "replication_factor": config.replication_factor(layout),
                           "commitlog_sync": layout.topology.cassandra.commitlog_sync,
                           "quota": layout.topology.cassandra.quota,
                           "members": [], "up": 0}
    views: dict[str, dict[str, dict[str, Any]]] = {}
    hints: dict[str, dict[str, int]] = {}
    session = None
    if any(n in live_nodes for n in ring):
        try:
            session = client.session(layout)
        except LabError as exc:
            out["error"] = exc.message
    for node in ring:
        if session is None or node not in live_nodes:
            continue
        with contextlib.suppress(Exception):  # no answer in time: the node shows as down
            views[node], hints[node] = _ask(session, layout, node)
    host_ids = {g["host_id"]: peer for v in views.values() for peer, g in v.items()
                if g.get("host_id")}
    for node in ring:
        on_disk = _hint_files(layout, node, host_ids)
        held = hints.setdefault(node, {})
        for peer, count in on_disk.items():
            held[peer] = max(held.get(peer, 0), count)
    for node in ring:
        gossip = views.get(node, {}).get(node) or next(
            (v[node] for v in views.values() if node in v), {})
        up = node in views
        state = gossip.get("status", "?")
        out["members"].append({
            "node": node, "address": layout.address(node),
            "state": ("U" if up else "D") + (state[:1] if state != "?" else "?"),
            "up": up, "status": state, "load": gossip.get("load"),
            "load_human": _human(gossip.get("load")), "token": gossip.get("token"),
            "host_id": gossip.get("host_id"), "hints_for": hints.get(node, {}),
            "lab_state": "up" if node in live_nodes else "not running"})
    out["up"] = sum(m["up"] for m in out["members"])
    return out


def _ask(session: Any, layout: Layout, node: str
         ) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    host = session.cluster.metadata.get_host(layout.address(node))
    if host is None:
        raise LabError(f"the driver does not know {node}")
    try:
        rows = session.execute("SELECT * FROM system_views.gossip_info", host=host,
                               timeout=PROBE_TIMEOUT)
    except NoHostAvailable:  # a fresh session may still be opening its pool to this node
        time.sleep(0.3)
        rows = session.execute("SELECT * FROM system_views.gossip_info", host=host,
                               timeout=PROBE_TIMEOUT)
    view = {}
    for r in rows:
        peer = layout.node_of(str(r.address))
        if peer is None:
            continue
        raw = (getattr(r, "status_with_port", None) or getattr(r, "status", None) or "?")
        status, _, token = raw.partition(",")
        load = getattr(r, "load", None)
        view[peer] = {"status": status, "token": token or None,
                      "load": int(float(load)) if load else None,
                      "host_id": str(getattr(r, "host_id", "") or "") or None}
    held = {}
    for r in session.execute("SELECT address, files FROM system_views.pending_hints", host=host,
                             timeout=PROBE_TIMEOUT):
        peer = layout.node_of(str(r.address)) or str(r.address)
        held[peer] = r.files
    return view, held


def _hint_files(layout: Layout, node: str, host_ids: dict[str, str]) -> dict[str, int]:
    """Hint files in the node's hints directory, per target node. `pending_hints` lists only
    files closed for dispatch; the one still being written shows here too."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for f in (config.home(layout, node) / "hints").glob("*.hints"):
            if f.stat().st_size > 0:
                peer = host_ids.get(f.name[:36], f.name[:8])
                out[peer] = out.get(peer, 0) + 1
    return out


def _human(n: int | None) -> str | None:
    if n is None:
        return None
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return None


def wait_converged(layout: Layout, timeout: float = 120, settle: float = 5) -> dict[str, Any]:
    """Wait until every ring member is up and normal and no node has held hints for another
    for `settle` seconds; returns the ring's status then.

    The settling covers hints still in memory: a node writes them to its hint files every
    two seconds (`hints_flush_period`).
    """
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    calm_since: float | None = None
    while time.monotonic() < deadline:
        st = status(layout, config.ring_nodes(layout))
        calm = all(m["state"] == "UN" and not any(m["hints_for"].values())
                   for m in st["members"])
        now = time.monotonic()
        if not calm:
            calm_since = None
        elif calm_since is None:
            calm_since = now
        elif now - calm_since >= settle:
            return st
        time.sleep(0.5)
    summary = ", ".join(f"{m['node']} {m['state']} hints {m['hints_for']}"
                        for m in st.get("members", []))
    raise LabError(f"the Cassandra ring did not converge within {timeout:.0f}s: {summary}",
                   "see `labkit status` and the cassandra logs")
