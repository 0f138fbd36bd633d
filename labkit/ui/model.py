"""Pure functions from a `Cluster.status()` dict to what the views draw.

Kept free of widgets so the unit tests can check them against a status captured from a real lab,
and so every optional tier (`mysql`, `postgres`, `cassandra`, `devices`, `membership`) shows up
only when the lab has it.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

#: colour of a node/service by its state; anything unknown is grey
STATE_COLOURS = {"up": "#2ca02c", "running": "#2ca02c", "active": "#2ca02c",
                 "standby": "#98df8a", "frozen": "#1f77b4", "isolated": "#ff7f0e",
                 "crashed": "#d62728", "down": "#7f7f7f", "fatal": "#d62728",
                 "backoff": "#d62728", "exited": "#d62728", "starting": "#bcbd22",
                 "lost": "#d62728"}  # a sub-job lost with its node (the Gantt chart)
#: left-to-right column of each kind of vertex in the picture; a node's services share its row
COLUMNS = {"clients": 0, "vip": 1, "lb": 2, "app": 3, "mysql": 4, "postgres": 4.8,
           "cassandra": 5.6, "device": 6.4}
#: the band drawn around one node's services: one machine, whose fault shows on all of it
MACHINE_SPAN = (1.6, 6.9)
#: what the colours mean, in the legend's words
LEGEND = tuple((STATE_COLOURS[state], words) for state, words in (
    ("up", "up / running / active"), ("standby", "standby"), ("frozen", "frozen"),
    ("isolated", "isolated"), ("crashed", "crashed / failed"), ("down", "down"),
    ("starting", "starting")))
DB_TIERS = ("mysql", "postgres")


def vip_owner(status: dict[str, Any]) -> str | None:
    return status.get("vip", {}).get("owner")


def service_state(status: dict[str, Any], node: str, service: str) -> str:
    """The state a service box should show: the node's fault wins over the service's own."""
    for n in status.get("nodes", []):
        if n["name"] == node:
            if n["state"] != "up":
                return n["state"]
            return n["services"].get(service, "unknown")
    return "unknown"


def _db_service(tier: str) -> str:
    return "mysql" if tier == "mysql" else "postgres"


def build_graph(status: dict[str, Any]) -> nx.DiGraph:
    """clients → VIP → LB nodes → app servers → databases (→ devices), with states and labels."""
    g = nx.DiGraph()
    owner = vip_owner(status)
    g.add_node("clients", kind="clients", label="clients", state="up")
    g.add_node("vip", kind="vip", label=f"VIP {status.get('vip', {}).get('address', '')}",
               state="up" if owner else "down")
    g.add_edge("clients", "vip", label="")
    nodes = status.get("nodes", [])
    apps = [n["name"] for n in nodes if "app" in n["roles"]]
    for n in nodes:
        name = n["name"]
        if "lb" in n["roles"]:
            lb = f"lb:{name}"
            is_owner = name == owner
            g.add_node(lb, kind="lb", node=name, owner=is_owner,
                       label="Apache" + (" ★VIP" if is_owner else ""),
                       state=service_state(status, name, "apache"))
            g.add_edge("vip", lb, label="owner" if is_owner else "standby", active=is_owner)
    for name in apps:
        g.add_node(f"app:{name}", kind="app", node=name, label="app",
                   state=service_state(status, name, "app"))
        for lb in [v for v, d in g.nodes(data=True) if d["kind"] == "lb"]:
            g.add_edge(lb, f"app:{name}", label="", active=g.nodes[lb]["owner"])
    for tier in DB_TIERS:
        _add_db_tier(g, status, tier, apps)
    _add_cassandra(g, status, apps)
    _add_devices(g, status)
    _mark_link_faults(g, status)
    return g


def link_faults(status: dict[str, Any]) -> dict[frozenset[str], str]:
    """{a, b} → "cut" or "degraded" for every pair of nodes with a link fault in force (a cut
    in either direction counts as cut: no TCP connection completes over a one-way cut)."""
    out: dict[frozenset[str], str] = {}
    for f in status.get("links", []):
        pair = frozenset((f["src"], f["dst"]))
        out[pair] = "cut" if f.get("cut") or out.get(pair) == "cut" else "degraded"
    return out


def _mark_link_faults(g: nx.DiGraph, status: dict[str, Any]) -> None:
    """Every edge between two services on nodes whose link is faulted shows it."""
    faults = link_faults(status)
    if not faults:
        return
    for a, b, d in g.edges(data=True):
        na, nb = g.nodes[a].get("node"), g.nodes[b].get("node")
        if na and nb and na != nb and frozenset((na, nb)) in faults:
            d["impaired"] = faults[frozenset((na, nb))]


def links_line(status: dict[str, Any]) -> str:
    """One line for the header: which links are faulted ("" when none)."""
    faults = link_faults(status)
    return ", ".join(f"{' ↔ '.join(sorted(pair))} {kind}" for pair, kind in
                     sorted(faults.items(), key=lambda kv: sorted(kv[0])))


def _add_db_tier(g: nx.DiGraph, status: dict[str, Any], tier: str, apps: list[str]) -> None:
    section = status.get(tier)
    if not section:
        return
    active, standby = section.get("active"), section.get("standby")
    for node, inst in section.get("instances", {}).items():
        role = inst.get("role", "?")
        state = service_state(status, node, _db_service(tier))
        shown = role if state == "running" and role in ("active", "standby") else state
        g.add_node(f"{tier}:{node}", kind=tier, node=node, label=f"{tier}<br>{role}",
                   state=shown)
    if active and f"{tier}:{active}" in g:
        for name in apps:
            g.add_edge(f"app:{name}", f"{tier}:{active}", label="", active=False)
        if standby and f"{tier}:{standby}" in g:
            g.add_edge(f"{tier}:{active}", f"{tier}:{standby}",
                       label=f"lag {format_lag(section.get('lag'))}", active=True,
                       replication=True)


def _add_cassandra(g: nx.DiGraph, status: dict[str, Any], apps: list[str]) -> None:
    section = status.get("cassandra")
    if not section:
        return
    members = section.get("nodes") or section.get("instances") or {}
    names = list(members) if isinstance(members, dict) else [m.get("name") for m in members]
    for node in names:
        g.add_node(f"cassandra:{node}", kind="cassandra", node=node, label="cassandra",
                   state=service_state(status, node, "cassandra"))


def _add_devices(g: nx.DiGraph, status: dict[str, Any]) -> None:
    """Devices are drawn as one box per serving node ("3 devices"), not one box per device."""
    for node, devices in devices_per_node(status).items():
        if not devices:  # a node that mediates none has no box
            continue
        g.add_node(f"devices:{node}", kind="device", node=node, state="up",
                   label=f"{len(devices)} devices")
        if f"app:{node}" in g:
            g.add_edge(f"app:{node}", f"devices:{node}", label="", active=False)


def devices_per_node(status: dict[str, Any]) -> dict[str, list[str]]:
    """{serving node: [device, ...]} from the optional `devices` section (any of two shapes)."""
    section = status.get("devices")
    if not section:
        return {}
    if isinstance(section.get("per_node"), dict):
        return {k: list(v) for k, v in section["per_node"].items()}
    out: dict[str, list[str]] = {}
    items = section.get("devices")  # a list of devices, or {name: node or facts}
    if isinstance(items, dict):
        items = [{"name": k, **(v if isinstance(v, dict) else {"node": v})}
                 for k, v in items.items()]
    for dev in items if isinstance(items, list) else []:
        node = dev.get("node") or dev.get("served_by")
        if isinstance(node, str):
            out.setdefault(node, []).append(dev.get("name", "?"))
    return out


def format_lag(lag: Any) -> str:
    if lag is None:
        return "?"
    if isinstance(lag, float):
        return f"{lag:.1f}s"
    return f"{lag}s"


def layered_positions(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Columns by kind (COLUMNS); each node's services on that node's row (one machine per
    row, top to bottom in the lab's order); clients and the VIP centred on the left."""
    rows = machine_rows(g)
    middle = (len(rows) - 1) / 2
    pos = {}
    for v, d in g.nodes(data=True):
        x = float(COLUMNS.get(d["kind"], 6.4))
        pos[v] = (x, -float(rows[d["node"]]) if d.get("node") in rows else -middle)
    return pos


def machine_rows(g: nx.DiGraph) -> dict[str, int]:
    """{node: row} for every node some vertex belongs to, in the order they were added."""
    rows: dict[str, int] = {}
    for _, d in g.nodes(data=True):
        if d.get("node") and d["node"] not in rows:
            rows[d["node"]] = len(rows)
    return rows


def machines(status: dict[str, Any], g: nx.DiGraph) -> list[dict[str, Any]]:
    """One band per node: its row, name, state and the colour of that state (a crashed node is
    one red machine, not five unrelated red dots)."""
    states = {n["name"]: n["state"] for n in status.get("nodes", [])}
    return [{"node": node, "y": -float(row), "state": states.get(node, "unknown"),
             "colour": STATE_COLOURS.get(states.get(node, ""), "#7f7f7f")}
            for node, row in machine_rows(g).items()]


#: where the first machine-to-machine link mark stands (right of the bands), and the step
#: between marks so that two faulted links never draw over each other
LINK_X, LINK_STEP = MACHINE_SPAN[1] + 0.15, 0.12


def machine_links(status: dict[str, Any], g: nx.DiGraph) -> list[dict[str, Any]]:
    """One mark per faulted link, from one machine's band to the other's, right of the bands:
    the link belongs to the two machines, whatever services happen to talk over it."""
    rows = {node: -float(row) for node, row in machine_rows(g).items()}
    out = []
    for pair, kind in sorted(link_faults(status).items(), key=lambda kv: sorted(kv[0])):
        a, b = sorted(pair)
        if a in rows and b in rows:
            x = LINK_X + LINK_STEP * len(out)
            out.append({"a": a, "b": b, "kind": kind, "x": x, "y0": rows[a], "y1": rows[b]})
    return out


def lags(status: dict[str, Any]) -> dict[str, float]:
    """Replica lag in seconds per database tier present (a missing lag counts as absent)."""
    out = {}
    for tier in DB_TIERS:
        lag = (status.get(tier) or {}).get("lag")
        if isinstance(lag, int | float):
            out[tier] = float(lag)
    return out
