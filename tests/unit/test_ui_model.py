"""The dashboard's models, built from a status captured from a real lab (`labkit status --json`
of a 4-node lab with the MySQL and PostgreSQL tiers): no widget display, no servers."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from labkit.ui import model
from labkit.ui.charts import EventLog
from labkit.ui.topology import EDGE_KINDS, TopologyView, figure_data

CAPTURED = json.loads((Path(__file__).parent / "ui_lab_status.json").read_text())


@pytest.fixture
def status() -> dict:
    return copy.deepcopy(CAPTURED)


def crash(status: dict, node: str, new_owner: str) -> dict:
    for n in status["nodes"]:
        if n["name"] == node:
            n["state"] = "crashed"
            n["services"] = {s: "down" for s in n["services"]}
    status["vip"]["owner"] = new_owner
    return status


def test_graph_has_every_tier_the_lab_has(status):
    g = model.build_graph(status)
    assert {"clients", "vip", "lb:node1", "lb:node2"} <= set(g)
    assert {f"app:node{i}" for i in range(1, 5)} <= set(g)
    assert {"mysql:node1", "mysql:node2", "postgres:node1", "postgres:node2"} <= set(g)
    assert not [v for v in g if v.startswith(("cassandra:", "devices:"))]


def test_absent_sections_draw_nothing(status):
    for tier in ("mysql", "postgres"):
        del status[tier]
    g = model.build_graph(status)
    assert not [v for v in g if v.startswith(("mysql:", "postgres:"))]
    assert model.lags(status) == {}


def test_vip_owner_is_marked_and_replication_labelled(status):
    data = figure_data(status)
    starred = [t for t, s in zip(data["nodes"]["text"], data["nodes"]["symbol"], strict=True)
               if s == "star"]
    assert starred == ["Apache ★VIP"]
    owner_row = [m["y"] for m in data["machines"] if m["node"] == status["vip"]["owner"]]
    star_y = [y for y, s in zip(data["nodes"]["y"], data["nodes"]["symbol"], strict=True)
              if s == "star"]
    assert star_y == owner_row  # the star sits in its owner's machine
    assert sorted(a["text"] for a in data["labels"]) == ["lag 0.0s", "lag 0s"]


def test_crashed_node_turns_red_and_owner_moves(status):
    g = model.build_graph(crash(status, "node1", "node2"))
    assert g.nodes["lb:node1"]["state"] == "crashed"
    assert g.nodes["app:node1"]["state"] == "crashed"
    assert g.nodes["lb:node2"]["owner"] is True
    assert model.STATE_COLOURS[g.nodes["lb:node1"]["state"]] == "#d62728"


def test_devices_grouped_by_serving_node(status):
    status["devices"] = {"devices": [{"name": "d1", "node": "node3"},
                                     {"name": "d2", "node": "node3"},
                                     {"name": "d3", "node": "node4"}]}
    assert model.devices_per_node(status) == {"node3": ["d1", "d2"], "node4": ["d3"]}
    g = model.build_graph(status)
    assert g.nodes["devices:node3"]["label"] == "2 devices"


def test_topology_view_only_redraws_on_change(status):
    view = TopologyView(status)
    assert "node1" in view.owner.value
    assert view.update(copy.deepcopy(status)) is False
    assert view.update(crash(status, "node1", "node2")) is True
    assert "node2" in view.owner.value
    assert list(view.figure.data[len(EDGE_KINDS)].marker.symbol).count("star") == 1


def test_event_log_shows_newest_first_and_skips_repeats():
    log = EventLog(rows=2)
    evs = [{"ts": 1.0, "kind": "vrrp", "message": "a"}, {"ts": 2.0, "kind": "fault",
                                                         "message": "<b>"}]
    assert log.update(evs) is True
    assert log.widget.value.index("fault") < log.widget.value.index("vrrp")
    assert "&lt;b&gt;" in log.widget.value
    assert log.update(evs) is False


def test_faulted_links_are_drawn_cut_or_degraded_and_named_in_the_header(status):
    assert figure_data(status)["edges"]["cut"]["x"] == [] and figure_data(status)["links"] == ""
    status["links"] = [
        {"src": "node3", "dst": "node1", "cut": True, "loss": 0, "rate": 0},  # one way: cut
        {"src": "node4", "dst": "node1", "cut": False, "loss": 5.0, "rate": 0}]
    g = model.build_graph(status)
    assert g.edges["app:node3", "mysql:node1"]["impaired"] == "cut"
    assert g.edges["app:node4", "mysql:node1"]["impaired"] == "degraded"
    assert "impaired" not in g.edges["app:node2", "mysql:node1"]  # the other links are whole
    assert "impaired" not in g.edges["mysql:node1", "mysql:node2"]
    data = figure_data(status)
    assert data["edges"]["cut"]["x"] and data["edges"]["degraded"]["x"]
    assert data["links"] == "node1 ↔ node3 cut, node1 ↔ node4 degraded"
    view = TopologyView(status)
    assert "node1 ↔ node3 cut" in view.owner.value


def test_a_faulted_link_is_drawn_between_the_two_machines(status):
    """The link belongs to the machines: one bracket from one node's band to the other's,
    even where no service edge joins them (node3 and node4 are both app servers)."""
    assert figure_data(status)["machine_links"] == []
    status["links"] = [{"src": "node3", "dst": "node4", "cut": True, "loss": 0, "rate": 0},
                       {"src": "node1", "dst": "node2", "cut": False, "loss": 5.0, "rate": 0}]
    data = figure_data(status)
    rows = {m["node"]: m["y"] for m in data["machines"]}
    links = {(k["a"], k["b"]): k for k in data["machine_links"]}
    assert set(links) == {("node3", "node4"), ("node1", "node2")}
    cut = links["node3", "node4"]
    assert cut["kind"] == "cut" and (cut["y0"], cut["y1"]) == (rows["node3"], rows["node4"])
    assert links["node1", "node2"]["kind"] == "degraded"
    assert links["node1", "node2"]["x"] != cut["x"]  # never drawn over each other
    assert cut["x"] in data["edges"]["cut"]["x"] and rows["node4"] in data["edges"]["cut"]["y"]
    view = TopologyView(status)
    assert any(a.text == "✂" for a in view.figure.layout.annotations)


def test_each_node_is_one_machine_holding_its_services(status):
    """A crashed node reads as one red machine, not as five unrelated red dots: every service
    of a node sits on that node's row, inside one band coloured by the node's state."""
    data = figure_data(crash(status, "node1", "node2"))
    rows = {m["node"]: m for m in data["machines"]}
    assert set(rows) == {n["name"] for n in status["nodes"]}
    assert rows["node1"]["state"] == "crashed" and rows["node1"]["colour"] == "#d62728"
    assert rows["node2"]["colour"] == model.STATE_COLOURS["up"]
    g = model.build_graph(crash(status, "node1", "node2"))
    pos = model.layered_positions(g)
    for v, d in g.nodes(data=True):
        if d.get("node"):
            assert pos[v][1] == rows[d["node"]]["y"], v
    assert len({rows[n]["y"] for n in rows}) == len(rows)  # one row per machine
