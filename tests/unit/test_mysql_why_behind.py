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
