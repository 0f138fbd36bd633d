"""The refusal a standby gives when it was never caught up names a stopped applier first."""

from __future__ import annotations

from labkit.db import witness
from labkit.db.mysql_watch import MysqlWatcher


def test_a_stopped_applier_is_named_in_the_refusal():
    term = witness.Term(epoch=3, active="node2", since=0.0)
    why = MysqlWatcher.why_behind(term, {"Slave_SQL_Running": "No", "Last_SQL_Errno": 1062,
                                         "Last_SQL_Error": "Duplicate entry"})
    assert why.startswith("its applier stopped (1062: Duplicate entry)")
    assert "node2" in why and "epoch 3" in why


def test_a_running_applier_only_says_it_may_be_behind():
    term = witness.Term(epoch=3, active="node2", since=0.0)
    for replica in (None, {"Slave_SQL_Running": "Yes", "Last_SQL_Errno": 0}):
        why = MysqlWatcher.why_behind(term, replica)
        assert "applier" not in why and "may lack commits node2 acknowledged" in why


def test_an_active_that_went_on_alone_is_said_with_the_ways_out():
    term = witness.Term(epoch=4, active="node1", since=0.0, alone=True, alone_since=0.0)
    why = MysqlWatcher.why_behind(term, None, "node2", "lab7")
    assert why.startswith("node1 committed alone since") and "epoch 4" in why
    assert "node2 lacks those commits" in why
    assert "recover node1" in why and "`labkit db force mysql node2 --lab lab7`" in why
    assert "may lack" not in why
