"""`make bench-check` on the netns-over-local ratio targets (bench/check.py), from results pairs
written here: no lab, no timing."""

from __future__ import annotations

import json

import pytest

from bench import check

TARGETS = """
cold_up_total = { max = 180 }
netns_over_local_cold_up_total = { max = 1.1 }
netns_over_local_rps_via_vip = { min = 0.9 }
"""


def write_pair(folder, local: dict[str, float], netns: dict[str, float]) -> None:
    for name, backend, figures, prefix in (("results.json", "local", local, ""),
                                           ("results-netns.json", "netns", netns, "netns_")):
        result = {"when": "2026-12-03T00:00:00Z", "backend": backend,
                  "figures": {prefix + k: {"name": prefix + k, "value": v, "unit": "s",
                                           "how": "written by the test"}
                              for k, v in figures.items()}}
        (folder / name).write_text(json.dumps(result))
    (folder / "targets.toml").write_text(TARGETS)


def test_ratios_within_bounds_pass(tmp_path, capsys):
    write_pair(tmp_path, {"cold_up_total": 40.0, "rps_via_vip": 500.0},
               {"cold_up_total": 42.0, "rps_via_vip": 480.0})
    assert check.main(tmp_path) == 0
    out = capsys.readouterr().out
    assert "ok      netns_over_local_cold_up_total = 1.05" in out
    assert "ok      netns_over_local_rps_via_vip = 0.96" in out


@pytest.mark.parametrize("local, netns, missed", [
    ({"cold_up_total": 40.0, "rps_via_vip": 500.0},   # netns starts 25 % slower
     {"cold_up_total": 50.0, "rps_via_vip": 500.0}, "netns_over_local_cold_up_total = 1.25"),
    ({"cold_up_total": 40.0, "rps_via_vip": 500.0},   # netns serves 20 % fewer requests/s
     {"cold_up_total": 40.0, "rps_via_vip": 400.0}, "netns_over_local_rps_via_vip = 0.8"),
])
def test_a_ratio_out_of_bounds_fails(tmp_path, capsys, local, netns, missed):
    write_pair(tmp_path, local, netns)
    assert check.main(tmp_path) == 1
    assert f"MISSED  {missed}" in capsys.readouterr().out


def test_netns_not_measured_fails_its_ratios(tmp_path, capsys):
    write_pair(tmp_path, {"cold_up_total": 40.0, "rps_via_vip": 500.0}, {})
    (tmp_path / "results-netns.json").unlink()
    assert check.main(tmp_path) == 1
    out = capsys.readouterr().out
    assert "ok      cold_up_total" in out
    assert "MISSING netns_over_local_rps_via_vip" in out


def test_ratio_is_netns_over_local():
    local = {"lab_pss_total": {"value": 1000.0}}
    netns = {"netns_lab_pss_total": {"value": 1050.0}}
    assert check.ratio("lab_pss_total", local, netns) == pytest.approx(1.05)
    assert check.ratio("cold_up_total", local, netns) is None


def test_compose_figures_are_held_to_their_targets(tmp_path, capsys):
    """The compose backend's figures (results-compose.json) count: a gap over its target fails
    the check (it was never read before, so no compose target could fail)."""
    write_pair(tmp_path, {"cold_up_total": 40.0, "rps_via_vip": 500.0},
               {"cold_up_total": 40.0, "rps_via_vip": 500.0})
    (tmp_path / "targets.toml").write_text(TARGETS + "compose_vip_gap_crash_p99 = { max = 1.0 }\n")
    result = {"when": "2026-12-05T00:00:00Z", "backend": "compose",
              "figures": {"compose_vip_gap_crash_p99": {"name": "compose_vip_gap_crash_p99",
                                                        "value": 1.31, "unit": "s", "how": "test"}}}
    (tmp_path / "results-compose.json").write_text(json.dumps(result))
    assert check.main(tmp_path) == 1
    assert "MISSED  compose_vip_gap_crash_p99 = 1.31" in capsys.readouterr().out
