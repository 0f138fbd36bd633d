"""The PostgreSQL watcher's synchronous mode against the witness (#18 items 1 and 4).

A fake server connection answers the few queries the watcher makes, so each rule is checked
without a real PostgreSQL: the witness says `alone` before synchronous_standby_names is relaxed,
a primary whose epoch has moved fences instead of relaxing, `alone` ends only once the standby
has flushed past the primary's LSN, and a standby refuses (and says why) while `alone` stands.
"""

from __future__ import annotations

from typing import Any

import pytest

from labkit.db import pg_watch, witness
from labkit.events import read as read_events
from labkit.layout import Layout
from labkit.topology import NodeSpec, Topology


class Row:
    def __init__(self, row: dict[str, Any] | None) -> None:
        self.row = row

    def fetchone(self) -> dict[str, Any] | None:
        return self.row


class FakeServer:
    """Just enough of a psycopg connection to a primary (or a standby) for the watcher."""

    def __init__(self, layout: Layout, have: str, streams: bool, caught_up: bool = False) -> None:
        self.layout = layout
        self.have = have
        self.streams = streams
        self.caught_up = caught_up
        self.alone_when_relaxed: bool | None = None
        self.statements: list[str] = []

    def execute(self, sql: str, params: Any = None) -> Row:
        self.statements.append(sql)
        if sql.startswith("SHOW synchronous_standby_names"):
            return Row({"synchronous_standby_names": self.have})
        if "count(*)" in sql:
            return Row({"n": int(self.streams)})
        if "pg_current_wal_lsn" in sql:
            return Row({"lsn": "0/3000000"})
        if "bool_or(flush_lsn" in sql:
            return Row({"caught_up": self.caught_up})
        if "pg_stat_wal_receiver" in sql:
            return Row({"status": "streaming"})
        if sql.startswith("ALTER SYSTEM SET synchronous_standby_names"):
            self.have = sql.split("'")[1]
            if self.have == "":
                self.alone_when_relaxed = witness.read(self.layout.rundir, "postgres").alone
        return Row(None)

    @property
    def relaxed(self) -> bool:
        return any("synchronous_standby_names = ''" in s for s in self.statements)


@pytest.fixture
def layout(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    topo = Topology(nodes=(NodeSpec("node1", ("lb", "app", "postgres")),
                           NodeSpec("node2", ("app", "postgres"))))
    layout = Layout(lab="pgwatch-test", topology=topo, prefix="127.0.9")
    for node in ("node1", "node2"):
        layout.paths.node(node).mkdir(parents=True)
    return layout


def watcher_on(layout: Layout, node: str, fenced: list[witness.Term]) -> pg_watch.PgWatcher:
    w = pg_watch.PgWatcher(layout, node)
    w.schema_ready = True
    w.fence = fenced.append  # type: ignore[method-assign]
    return w


def test_the_witness_says_alone_before_sync_is_relaxed(layout):
    term = witness.claim(layout.rundir, "postgres", "node1", 0)
    server = FakeServer(layout, have="*", streams=False)
    watcher_on(layout, "node1", []).keep_primary(server, term)
    assert server.relaxed and server.alone_when_relaxed is True
    assert witness.read(layout.rundir, "postgres").alone


def test_a_primary_whose_epoch_moved_fences_instead_of_relaxing(layout):
    """It was frozen after reading the witness; meanwhile its standby was promoted."""
    stale = witness.claim(layout.rundir, "postgres", "node1", 0)
    witness.claim(layout.rundir, "postgres", "node2", 1, alone=True)
    fenced: list[witness.Term] = []
    server = FakeServer(layout, have="*", streams=False)
    watcher_on(layout, "node1", fenced).keep_primary(server, stale)
    assert not server.relaxed  # relaxing would acknowledge commits node2 never got
    assert [t.active for t in fenced] == ["node2"]
    assert witness.read(layout.rundir, "postgres").active == "node2"


def test_sync_off_without_alone_in_the_witness_is_recorded_first(layout):
    """E.g. a witness from before this rule: the primary already commits alone."""
    term = witness.claim(layout.rundir, "postgres", "node1", 0)
    server = FakeServer(layout, have="", streams=True)
    watcher_on(layout, "node1", []).keep_primary(server, term)
    assert witness.read(layout.rundir, "postgres").alone
    assert server.have == "*"


def test_alone_ends_only_once_the_standby_has_flushed_past_the_primary(layout):
    term = witness.claim(layout.rundir, "postgres", "node1", 0, alone=True)
    w = watcher_on(layout, "node1", [])
    server = FakeServer(layout, have="", streams=True)
    w.keep_primary(server, term)  # the standby streams: synchronous replication back on
    assert server.have == "*" and witness.read(layout.rundir, "postgres").alone
    w.keep_primary(server, term)  # on, but the standby has not flushed the primary's LSN yet
    assert witness.read(layout.rundir, "postgres").alone
    server.caught_up = True
    w.keep_primary(server, term)
    assert not witness.read(layout.rundir, "postgres").alone


def test_a_standby_refuses_to_take_over_from_an_alone_primary_and_says_why(layout, monkeypatch):
    witness.claim(layout.rundir, "postgres", "node1", 0)
    witness.set_alone(layout.rundir, "postgres", "node1", 1, True)
    term = witness.read(layout.rundir, "postgres")
    w = pg_watch.PgWatcher(layout, "node2")
    w.failover_after = 0.0
    w.remember_synced(1)  # it did stream in this epoch: that alone is not enough
    monkeypatch.setattr(w, "peer_answers", lambda: False)
    server = FakeServer(layout, have="", streams=False)
    w.keep_standby(server, term)
    assert not any("pg_promote" in s for s in server.statements)
    assert witness.read(layout.rundir, "postgres").active == "node1"
    said = [e["message"] for e in read_events(layout.events_path) if e["kind"] == "postgres_wait"]
    assert said and said[-1].startswith("node2 will not take over: node1 committed alone since")
    assert "force postgres node2" in said[-1]


def test_a_caught_up_standby_still_takes_over(layout, monkeypatch):
    term = witness.claim(layout.rundir, "postgres", "node1", 0)
    w = pg_watch.PgWatcher(layout, "node2")
    w.failover_after = 0.0
    w.remember_synced(1)
    monkeypatch.setattr(w, "peer_answers", lambda: False)
    server = FakeServer(layout, have="", streams=False)
    w.keep_standby(server, term)
    assert any("pg_promote" in s for s in server.statements)
    new = witness.read(layout.rundir, "postgres")
    assert (new.epoch, new.active, new.alone) == (2, "node2", True)  # no standby yet


def test_a_primary_cut_off_from_every_node_keeps_waiting_so_its_standby_may_take_over(
        layout, monkeypatch):
    """Found under a real partition (netns): the isolated primary went on alone first, and its
    healthy standby then refused to take over, leaving no writer until the heal."""
    term = witness.claim(layout.rundir, "postgres", "node1", 0)
    monkeypatch.setattr(witness, "cut_off", lambda *_: True)
    server = FakeServer(layout, have="*", streams=False)
    watcher_on(layout, "node1", []).keep_primary(server, term)
    assert not server.relaxed  # its commits keep waiting: none is acknowledged
    assert not witness.read(layout.rundir, "postgres").alone  # so node2 may still take over
    said = [e["message"] for e in read_events(layout.events_path) if e["kind"] == "postgres_wait"]
    assert said and said[-1].startswith("node1 does not go on alone: it reaches no other node")


@pytest.mark.parametrize("heals", [True, False])
def test_a_standby_coming_out_of_a_cut_asks_its_peer_again_before_taking_over(
        layout, monkeypatch, heals):
    """Seen when a partition healed (netns): the standby, cut off, waited; the heal landed while
    its next `peer_answers` was still timing out, `cut_off` then passed, and it promoted although
    the active was fine. It now asks the peer again on its way out of a cut. `heals=False` is the
    real failover that follows a cut: the peer stays silent, and the standby still takes over."""
    w = pg_watch.PgWatcher(layout, "node2")
    w.failover_after = 0.0
    cuts = iter([True, False])
    monkeypatch.setattr(witness, "cut_off", lambda *_: next(cuts))
    answers = iter([False, False, heals])
    monkeypatch.setattr(w, "peer_answers", lambda: next(answers))
    term = witness.claim(layout.rundir, "postgres", "node1", 0)
    assert not w.may_take_over(term, caught_up=True, why_not="")  # cut off: waits
    assert w.may_take_over(term, caught_up=True, why_not="") is not heals
    said = [e["message"] for e in read_events(layout.events_path) if e["kind"] == "postgres_wait"]
    assert any("its silence was the cut, no failover" in m for m in said) is heals
