"""`labkit db force`: the one way past a refusal to promote, said plainly in the event log."""

from __future__ import annotations

import pytest

from labkit import events
from labkit.db import witness
from labkit.layout import Layout
from tests.unit.cli_run import run_cli


@pytest.fixture
def layout(saved_layout: Layout) -> Layout:
    return saved_layout


def test_force_names_a_new_active_and_says_what_is_given_up(layout, monkeypatch):
    witness.claim(layout.rundir, "postgres", "node1", 0, alone=True)
    assert witness.claim(layout.rundir, "postgres", "node2", 1) is None  # refused: alone
    assert run_cli(monkeypatch, "db", "force", "postgres", "node2", "--lab", "unit") == 0
    term = witness.read(layout.rundir, "postgres")
    assert (term.epoch, term.active, term.alone) == (2, "node2", True)
    said = [e for e in events.read(layout.events_path) if e["kind"] == "postgres_forced"]
    assert "given up" in said[-1]["message"] and "node1 in epoch 1 (alone)" in said[-1]["message"]


def test_force_refuses_an_unknown_tier_or_node_and_changes_nothing(layout, monkeypatch, capsys):
    witness.claim(layout.rundir, "mysql", "node1", 0)
    assert run_cli(monkeypatch, "db", "force", "redis", "node2", "--lab", "unit") == 2
    assert run_cli(monkeypatch, "db", "force", "mysql", "node9", "--lab", "unit") == 2
    assert witness.read(layout.rundir, "mysql").active == "node1"
    assert "no database tier 'redis'" in capsys.readouterr().err
