"""Loss path 3 of issue 18: an active MariaDB coming back from a restart must switch semi-sync on
before it becomes writable. In between, a commit would be acknowledged without waiting for the
standby, and a crash right after would lose it.

The watcher's own `be_active` runs against a stand-in for a just-restarted server (read-only,
semi-sync off, as my.cnf starts it) that records every statement; the check reads that record.
"""

from __future__ import annotations

from typing import Any

import pytest

from labkit.db import witness
from labkit.db.mysql_watch import MysqlWatcher

SEMI_ON = "SET GLOBAL rpl_semi_sync_master_enabled = ON"
WRITABLE = "SET GLOBAL read_only = OFF"


class RestartedServer:
    """Just restarted: read_only=ON and rpl_semi_sync_master_enabled=OFF, no replica set up."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.semi, self.read_only = False, True

    def cursor(self) -> RestartedServer:
        return self

    def __enter__(self) -> RestartedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, args: Any = None) -> int:
        self.statements.append(sql)
        self.semi = self.semi or sql == SEMI_ON
        self.read_only = self.read_only and sql != WRITABLE
        return 0

    def fetchone(self) -> dict[str, Any] | None:
        last = self.statements[-1]
        if "@@rpl_semi_sync_master_enabled" in last:
            return {"enabled": int(self.semi)}
        if "@@read_only" in last:
            return {"ro": int(self.read_only)}
        return None  # SHOW SLAVE STATUS: no replica

    def fetchall(self) -> list[dict[str, Any]]:
        return [{"Variable_name": "Rpl_semi_sync_master_status",
                 "Value": "ON" if self.semi else "OFF"}]


def writable_without_semi_sync(statements: list[str]) -> bool:
    """Did the server become writable while semi-sync was still off?"""
    if WRITABLE not in statements:
        return False
    return SEMI_ON not in statements[:statements.index(WRITABLE)]


@pytest.fixture
def watcher(saved_layout, monkeypatch) -> MysqlWatcher:
    w = MysqlWatcher(saved_layout, "node1")
    # what follows (watching the standby) is not under test here
    monkeypatch.setattr(w, "watch_standby", lambda *args: None)
    return w


def test_semi_sync_goes_on_before_the_restarted_active_takes_writes(watcher):
    server = RestartedServer()
    watcher.be_active(server, witness.Term(epoch=2, active="node1", since=0.0))
    assert WRITABLE in server.statements
    assert not writable_without_semi_sync(server.statements), server.statements


def test_the_check_catches_the_unsafe_order():
    assert writable_without_semi_sync(["SELECT @@read_only AS ro", WRITABLE, SEMI_ON])
    assert not writable_without_semi_sync([SEMI_ON, WRITABLE])


class Recorder:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, sql: str, args: Any = None) -> int:
        self.statements.append(sql)
        return 0


@pytest.mark.parametrize("cut_off", [True, False])
def test_an_active_cut_off_from_every_node_does_not_go_on_alone(saved_layout, monkeypatch,
                                                               cut_off):
    """Found under a real partition: an isolated active that goes on alone first forbids its
    healthy standby to take over. Cut off, it keeps its commits waiting; not cut off (the
    standby alone is gone), it goes on alone as before: the check can tell the two apart."""

    term = witness.claim(saved_layout.rundir, "mysql", "node1", 0)
    w = MysqlWatcher(saved_layout, "node1")
    monkeypatch.setattr(witness, "cut_off", lambda *_: cut_off)
    w.alone_after = 0.0
    cur = Recorder()
    stuck = {"enabled": True, "status": True, "clients": 0, "waiting": 1, "acked": 5}
    w.watch_standby(cur, term, stuck)
    went_alone = witness.read(saved_layout.rundir, "mysql").alone
    assert went_alone is (not cut_off)
    assert ("SET GLOBAL rpl_semi_sync_master_enabled = OFF" in cur.statements) is (not cut_off)
