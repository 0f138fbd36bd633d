"""`not_whole`: a pair may lose its active only with a standby that replicates from it and no
record that the active committed alone; every other state names what is missing."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.db.handles import MySQLTier, PostgresTier

MYSQL_OK = {"io_running": "Yes", "sql_running": "Yes"}
PG_OK = {"streaming": True}


def _status(active: Any = "node1", standby: Any = "node2", alone: bool = False,
            instance: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"active": active, "standby": standby, "alone": alone,
            "instances": {"node1": {"role": "active"}, "node2": {"role": "standby",
                                                                  **(instance or {})}}}


@pytest.mark.parametrize("tier,ok", [(MySQLTier, MYSQL_OK), (PostgresTier, PG_OK)])
def test_a_replicating_pair_is_whole(monkeypatch, tier, ok):
    monkeypatch.setattr(tier, "status", lambda self: _status(instance=ok))
    assert tier(None).not_whole() is None


@pytest.mark.parametrize("tier,status,said", [
    (MySQLTier, _status(instance={"io_running": "Connecting", "sql_running": "Yes"}),
     "not replicating"),
    (MySQLTier, _status(instance=MYSQL_OK, alone=True), "committed alone"),
    (MySQLTier, _status(standby=None), "standby none"),
    (PostgresTier, _status(instance={"streaming": False}), "not replicating"),
    (PostgresTier, _status(active=["node1", "node2"], instance=PG_OK), "active ['node1'"),
    (PostgresTier, _status(instance=PG_OK, alone=True), "committed alone"),
])
def test_a_pair_missing_something_is_not_whole_and_says_what(monkeypatch, tier, status, said):
    monkeypatch.setattr(tier, "status", lambda self: status)
    assert said in (tier(None).not_whole() or "")
