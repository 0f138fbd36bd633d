"""The MySQL pair against the real MariaDB servers: replication, failover, rejoin, fencing.

Every test starts from the shared lab (active + replicating standby) and leaves it whole; the
`lab` fixture recovers crashed nodes afterwards.
"""

from __future__ import annotations

import time
import uuid

import pymysql
import pytest

from tests.integration.db_helpers import (
    converged,
    fail_active_mid_write_load,
    pair,
    rows,
    wait_until,
)

pytestmark = pytest.mark.lab


def test_status_names_one_active_and_one_standby(lab):
    active, standby = pair(lab)
    st = lab.status()["mysql"]
    assert {active, standby} == {"node1", "node2"}
    assert st["instances"][standby]["replicating_from"] == active
    assert st["instances"][active]["semi_sync"] is True
    assert st["lag"] is not None


def test_rows_written_to_the_active_appear_on_the_standby(lab):
    active, standby = pair(lab)
    client = f"t-{uuid.uuid4().hex[:8]}"
    with lab.mysql.connect() as conn, conn.cursor() as cur:
        for seq in range(1, 51):
            cur.execute("INSERT INTO writes (client, seq, created) VALUES (%s, %s, %s)",
                        (client, seq, time.time()))
    replica = lab.mysql.connect_to(standby)
    try:
        wait_until(lambda: rows(replica, client) == set(range(1, 51)), 30,
                   "all 50 rows on the standby")
    finally:
        replica.close()
    st = lab.mysql.status()["instances"]
    wait_until(lambda: lab.mysql.status()["instances"][standby]["gtid"]
               == lab.mysql.status()["instances"][active]["gtid"], 30, "equal GTID positions")
    assert st[standby]["role"] == "standby"


def test_the_standby_refuses_application_writes(lab):
    _, standby = pair(lab)
    conn = lab.mysql.connect_to(standby)
    try:
        with pytest.raises(pymysql.OperationalError) as err, conn.cursor() as cur:
            cur.execute("INSERT INTO writes (client, seq, created) VALUES ('x', 1, 0)")
        assert err.value.args[0] == 1290  # --read-only
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["crash", "freeze"])
def test_active_failure_mid_write_loop_loses_no_acknowledged_row(lab, mode):
    old, new, load = fail_active_mid_write_load(lab, mode)
    lab.recover(old)
    wait_until(lambda: converged(lab, old, new, load.client, load.acked), 90,
               f"{old} rejoining as a caught-up standby")
    assert lab.mysql.active() == new  # the returning node did not take writes back


def test_a_killed_mysql_server_comes_back_without_losing_rows(lab):
    active, _ = pair(lab)
    load = lab.mysql.write_load(rate=20)
    wait_until(lambda: len(load.acked) >= 10, 30, "rows before the fault")
    lab.fail(f"{active}/mysql")
    count = len(load.acked)
    wait_until(lambda: len(load.acked) >= count + 20, 60, "writes resuming")
    load.stop()
    after_active, after_standby = pair(lab)
    conn = lab.mysql.connect()
    try:
        assert load.missing(conn) == []
    finally:
        conn.close()
    assert {after_active, after_standby} == {"node1", "node2"}


def test_wrong_credentials_and_unknown_tables_get_the_servers_error(lab):
    active, _ = pair(lab)
    with pytest.raises(pymysql.OperationalError) as err:
        pymysql.connect(host=lab.layout.address(active), port=lab.layout.ports.mysql,
                        user="labkit", password="wrong", connect_timeout=2)
    assert err.value.args[0] == 1045  # access denied
    with lab.mysql.connect() as conn, conn.cursor() as cur, \
            pytest.raises(pymysql.ProgrammingError) as err:
        cur.execute("SELECT * FROM no_such_table")
    assert err.value.args[0] == 1146
