"""The false-failover soak's counting (bench/soak.py) and the gap/timer curve's arithmetic and
drawing (bench/curve.py), on made-up events and figures: no lab, no timing. A count that can
never be non-zero checks nothing, so each is fed the move it must see."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from bench import check, curve, soak
from bench.figures import Figure
from labkit.lb.election import master_down_interval

# what the lab writes on a healthy start: the first owner, a device placed, a watcher's news
QUIET = [
    {"ts": 1.0, "kind": "vrrp", "node": "node1", "state": "master"},
    {"ts": 1.1, "kind": "vip", "owner": "node1", "previous": None},
    {"ts": 2.0, "kind": "device_move", "device": "dev001", "from": None, "to": "node3"},
    {"ts": 2.1, "kind": "devices", "moved": 1, "reason": "discovered"},
    {"ts": 3.0, "kind": "mysql", "node": "node1", "message": "node2 has caught up"},
    {"ts": 3.1, "kind": "postgres", "node": "node2", "message": "streaming standby of node1"},
    {"ts": 4.0, "kind": "mysql_wait", "node": "node2", "message": "will not take over"},
]

# one of each false failover
VIP_MOVE = [{"ts": 5.0, "kind": "vip", "owner": "node2", "previous": "node1"}]
PROMOTION = [{"ts": 5.0, "kind": "postgres_failover", "node": "node2", "tier": "postgres"}]
DEVICE_MOVE = [{"ts": 5.0, "kind": "device_move", "device": "dev001", "from": "node3",
                "to": "node4", "reason": "node3 left"}]


def test_nothing_moved_counts_zero() -> None:
    for evs in ([], QUIET):
        assert soak.vip_moves(evs, "node1") == 0
        assert soak.db_promotions(evs) == 0
        assert soak.device_moves(evs) == 0


def test_one_vip_move_is_counted() -> None:
    assert soak.vip_moves(QUIET + VIP_MOVE, "node1") == 1
    assert soak.db_promotions(QUIET + VIP_MOVE) == 0
    assert soak.device_moves(QUIET + VIP_MOVE) == 0


def test_vip_going_and_coming_back_is_two_moves() -> None:
    back = [{"ts": 6.0, "kind": "vip", "owner": "node1", "previous": "node2"}]
    assert soak.vip_moves(VIP_MOVE + back, "node1") == 2
    # keepalived's notify names no previous owner: the count follows the owners itself
    assert soak.vip_moves([{"kind": "vip", "owner": "node2"}], "node1") == 1


def test_one_promotion_is_counted() -> None:
    assert soak.db_promotions(QUIET + PROMOTION) == 1
    mysql = [{"ts": 5.0, "kind": "mysql_failover", "node": "node2", "tier": "mysql"}]
    assert soak.db_promotions(QUIET + mysql + PROMOTION) == 2
    assert soak.vip_moves(QUIET + PROMOTION, "node1") == 0


def test_one_device_move_is_counted() -> None:
    assert soak.device_moves(QUIET + DEVICE_MOVE) == 1
    assert soak.vip_moves(QUIET + DEVICE_MOVE, "node1") == 0


def test_state_before_and_after() -> None:
    assert soak.epoch_changes({"mysql": 1, "postgres": 1}, {"mysql": 1, "postgres": 1}) == 0
    assert soak.epoch_changes({"mysql": 1, "postgres": 1}, {"mysql": 2, "postgres": 1}) == 1
    before = {"dev001": "node3", "dev002": "node4", "dev003": None}
    assert soak.placement_changes(before, dict(before, dev003="node1")) == 0  # first placement
    assert soak.placement_changes(before, dict(before, dev002="node1")) == 1


def test_cpu_hog_is_killed_on_the_way_out() -> None:
    try:
        with soak.cpu_hog(1) as hogs:
            assert hogs[0].poll() is None
            raise KeyError("the soak failed")
    except KeyError:
        pass
    assert hogs[0].poll() is not None


def test_master_down_interval() -> None:
    # RFC 5798: 3 × advert + (256 − priority) × advert / 256
    assert master_down_interval(1.0, 100) == 3 + 156 / 256
    assert master_down_interval(0.1, 90) == 0.3 + 166 * 0.1 / 256


def test_small_topology_has_no_databases() -> None:
    topo = curve.topology(0.1)
    assert topo.vrrp.advert_interval == 0.1
    assert {r for n in topo.nodes for r in n.roles} == {"lb", "app"}
    assert topo.devices.count == 0


def figures_for(adverts: list[float]) -> list[Figure]:
    out = []
    for a in adverts:
        out += [Figure(curve.name("vip_gap_crash_p50", a), 3.2 * a + 0.1, "s", ""),
                Figure(curve.name("vip_gap_crash_p99", a), 3.5 * a + 0.2, "s", ""),
                Figure(curve.name("master_down", a), master_down_interval(a, 90), "s", "")]
    return out


def test_curve_points_and_svg(tmp_path) -> None:
    assert curve.name("vip_gap_crash_p50", 0.1) == "vip_gap_crash_p50_advert_0.1"
    assert curve.name("master_down", 1.0) == "master_down_advert_1"
    assert curve.draw([]) is None  # nothing measured: no picture
    figs = figures_for([0.1, 0.2, 0.5, 1.0])
    pts = curve.points(figs)
    assert [a for a, _ in pts] == [0.1, 0.2, 0.5, 1.0]
    assert pts[0][1]["vip_gap_crash_p50"] == 3.2 * 0.1 + 0.1
    path = curve.draw(figs, tmp_path / "curve.svg")
    root = ET.parse(path).getroot()  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 3  # no takeover measured: no fourth line
    assert len(root.findall(f"{ns}circle")) == 12
    # a missing interval is left out, not drawn at zero
    assert [a for a, _ in curve.points(figures_for([0.1, 1.0]))] == [0.1, 1.0]
    figs.append(Figure(curve.name("vrrp_takeover_p50", 0.5), 1.7, "s", ""))
    root = ET.fromstring(curve.svg(curve.points(figs)))
    assert len(root.findall(f"{ns}polyline")) == 4
    assert len(root.findall(f"{ns}circle")) == 13


def test_takeover_from_the_events() -> None:
    evs = [{"ts": 10.2, "kind": "fault", "node": "node1", "mode": "crash", "at": 10.0},
           {"ts": 10.5, "kind": "vrrp", "node": "node1", "state": "master"},  # not the new one
           {"ts": 10.6, "kind": "vrrp", "node": "node2", "state": "backup"},
           {"ts": 10.9, "kind": "vrrp", "node": "node2", "state": "master"}]
    assert abs(curve.takeover(evs, "node2") - 0.9) < 1e-9
    assert curve.takeover(evs[:3], "node2") is None  # node2 never said MASTER
    assert curve.takeover(evs[1:], "node2") is None  # no crash recorded
    assert curve.takeover(evs, "node2", delivered=True) is None  # no `vip` event yet
    evs.append({"ts": 11.0, "kind": "vip", "owner": "node2", "previous": "node1"})
    assert abs(curve.takeover(evs, "node2", delivered=True) - 1.0) < 1e-9


def test_bench_check_holds_the_soak_to_zero(tmp_path, capsys) -> None:
    def write(moves: int) -> None:
        (tmp_path / "results.json").write_text(json.dumps(
            {"when": "2026-12-03T00:00:00Z", "backend": "local", "figures": {}}))
        (tmp_path / "results-soak.json").write_text(json.dumps(
            {"when": "2026-12-03T00:00:00Z", "backend": "local: soak",
             "figures": {"soak_vip_moves": {"name": "soak_vip_moves", "value": moves,
                                            "unit": "moves", "how": "written by the test"}}}))
        (tmp_path / "targets.toml").write_text("soak_vip_moves = { max = 0 }\n")

    write(0)
    assert check.main(tmp_path) == 0
    write(1)
    assert check.main(tmp_path) == 1
    assert "MISSED  soak_vip_moves = 1" in capsys.readouterr().out
