"""`labkit up --topology bad.yml`: one plain error line and a hint, exit status 2, and no lab is
started (the topology is refused before anything runs)."""

from __future__ import annotations

import sys

import pytest

from labkit import cli
from labkit.cluster import Cluster

GOOD_REST = "  node2: {roles: [lb, app]}\n"


def run_up(monkeypatch, capsys, path) -> tuple[int, list[str]]:
    def no_lab(*args, **kwargs):
        raise AssertionError("a lab was started with a bad topology")

    monkeypatch.setattr(Cluster, "up", no_lab)
    monkeypatch.setattr(sys, "argv", ["labkit", "up", "--topology", str(path)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return exited.value.code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("text, first_line", [
    ("nodes:\n  node1: {roles: [lb, app], priority: high}\n" + GOOD_REST,
     "error: topology: nodes.node1.priority: must be an integer (got 'high')"),
    ('nodes:\n  node1: {roles: [lb, app], priority: "90"}\n' + GOOD_REST,
     "error: topology: nodes.node1.priority: must be an integer (got '90')"),
    ("nodes:\n  node1: {roles: [lb, app]}\n" + GOOD_REST + 'vrrp: {preempt: "no"}\n',
     "error: topology: vrrp.preempt: must be true or false (got 'no')"),
    ("nodes:\n  node1: {roles: [lb, app], colour: red}\n" + GOOD_REST,
     "error: topology: nodes.node1.colour: unknown key"),
    ('nodes:\n  "node1\\n": {roles: [lb, app]}\n' + GOOD_REST,
     r"error: topology: nodes.'node1\n': not a valid node name"),
    ("nodes:\n  node1: {roles: [lb, app, mysql]}\n" + GOOD_REST,
     "error: topology: nodes: role 'mysql' is on 1 node (node1); a mysql pair is exactly 2 nodes"),
    ('nodes:\n  node1: {roles: "[bold]lb[/bold]"}\n' + GOOD_REST,
     "error: topology: nodes.node1.roles: must be a list (got '[bold]lb[/bold]')"),
])
def test_a_bad_topology_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, text, first_line):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    code, lines = run_up(monkeypatch, capsys, path)
    assert code == 2
    assert lines[0] == first_line  # unwrapped, and no rich markup eaten
    assert len(lines) == 2 and lines[1].startswith(f"  → in {path}: ")
    assert "Traceback" not in "\n".join(lines)


def test_a_duplicate_key_is_one_line_however_long(tmp_path, monkeypatch, capsys):
    path = tmp_path / ("a-rather-long-directory-name-" * 3) / "dup.yml"
    path.parent.mkdir()
    path.write_text("nodes:\n  node1: {roles: [lb, app]}\n  node1: {roles: [app]}\n" + GOOD_REST)
    code, lines = run_up(monkeypatch, capsys, path)
    assert code == 2 and len(lines) == 2
    assert lines[0] == (f"error: topology file {path} is not valid YAML: line 3, column 3: "
                        "duplicate key 'node1'")
