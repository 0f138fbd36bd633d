"""An unreadable witness is an error that stops promotions, never "no witness yet" (#18 item 6)."""

from __future__ import annotations

import json

import pytest

from labkit.db import mysql_watch, witness
from labkit.db.watcher import TierWatcher
from labkit.events import read as read_events
from labkit.layout import Layout
from labkit.topology import NodeSpec, Topology

BAD = ["{not json", "", "[1, 2]", '{"epoch": 1}', '{"epoch": "2", "active": "node1", "since": 0}',
       '{"epoch": 1, "active": "node1", "since": 0, "alone": "yes"}',
       '{"epoch": 1, "active": "node1", "since": 0, "colour": "red"}']


def corrupt(rundir, tier: str, text: str = "{not json") -> None:
    path = witness._path(rundir, tier)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_missing_witness_is_none(tmp_path):
    assert witness.read(tmp_path, "postgres") is None


@pytest.mark.parametrize("text", BAD)
def test_an_unreadable_witness_is_an_error(tmp_path, text):
    corrupt(tmp_path, "postgres", text)
    with pytest.raises(witness.WitnessCorrupt) as err:
        witness.read(tmp_path, "postgres")
    assert "postgres witness" in err.value.message and "force postgres" in err.value.hint


def test_an_old_witness_without_alone_since_still_reads(tmp_path):
    corrupt(tmp_path, "mysql", '{"epoch": 3, "active": "node2", "since": 1.0, "alone": true}')
    assert witness.read(tmp_path, "mysql") == witness.Term(3, "node2", 1.0, True)


def test_no_claim_and_no_going_alone_over_a_corrupt_witness(tmp_path):
    corrupt(tmp_path, "mysql")
    with pytest.raises(witness.WitnessCorrupt):
        witness.claim(tmp_path, "mysql", "node1", 0, alone=True)  # not a fresh epoch 1
    with pytest.raises(witness.WitnessCorrupt):
        witness.set_alone(tmp_path, "mysql", "node1", 1, True)
    assert witness._path(tmp_path, "mysql").read_text() == "{not json"


def test_going_alone_is_timed_and_ending_it_clears_the_time(tmp_path):
    witness.claim(tmp_path, "postgres", "node1", 0)
    assert witness.read(tmp_path, "postgres").alone_since is None
    assert witness.set_alone(tmp_path, "postgres", "node1", 1, True)
    assert witness.read(tmp_path, "postgres").alone_since is not None
    assert witness.set_alone(tmp_path, "postgres", "node1", 1, False)
    assert witness.read(tmp_path, "postgres").alone_since is None


def test_force_accepts_the_loss_of_an_alone_active(tmp_path):
    witness.claim(tmp_path, "postgres", "node1", 0)
    witness.set_alone(tmp_path, "postgres", "node1", 1, True)
    assert witness.claim(tmp_path, "postgres", "node2", 1) is None
    term = witness.force(tmp_path, "postgres", "node2")
    assert (term.epoch, term.active, term.alone) == (2, "node2", True)
    assert witness.read(tmp_path, "postgres") == term


def test_force_repairs_a_corrupt_witness_only_with_an_explicit_epoch(tmp_path):
    corrupt(tmp_path, "postgres")
    with pytest.raises(witness.WitnessCorrupt):
        witness.force(tmp_path, "postgres", "node1")
    assert witness.force(tmp_path, "postgres", "node1", epoch=7).epoch == 7
    assert witness.read(tmp_path, "postgres").active == "node1"


@pytest.fixture
def layout(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app", "mysql", "postgres")),
                           NodeSpec("node2", ("app", "mysql", "postgres"))))
    return Layout(lab="witness-test", topology=topo, prefix="127.0.9")


class _Once(TierWatcher):
    tier = "postgres"
    state_name = "pg"
    server_errors = ()

    def step(self) -> None:
        self.running = False
        witness.read(self.layout.rundir, self.tier)


def test_a_watcher_says_the_corrupt_witness_and_keeps_running(layout, monkeypatch):
    monkeypatch.setattr("labkit.db.watcher.POLL", 0)
    corrupt(layout.rundir, "postgres")
    _Once(layout, "node1", ["node1", "node2"]).run()  # returns: nothing raised out of the loop
    said = [e for e in read_events(layout.events_path) if e["kind"] == "postgres_witness"]
    assert said and "unreadable" in said[0]["message"]


def test_the_first_mysql_node_does_not_start_epoch_one_over_a_corrupt_witness(layout, monkeypatch):
    corrupt(layout.rundir, "mysql")
    monkeypatch.setattr(mysql_watch, "connect", lambda *a, **k: pytest.fail("no server needed"))
    watcher = mysql_watch.MysqlWatcher(layout, "node1")
    with pytest.raises(witness.WitnessCorrupt):
        watcher.step()
    assert witness._path(layout.rundir, "mysql").read_text() == "{not json"


def test_status_says_the_witness_is_unreadable(layout, monkeypatch):
    from labkit.db import mysql, postgres

    for tier in ("mysql", "postgres"):
        corrupt(layout.rundir, tier)
    monkeypatch.setattr(postgres, "instance_state", lambda *_: {"role": "down"})
    monkeypatch.setattr(mysql, "instance_state", lambda *_: {"role": "down"})
    for module in (mysql, postgres):
        st = module.tier_status(layout)
        assert "unreadable" in st["problem"] and st["epoch"] is None
    json.dumps(st)
