"""The PostgreSQL pair against the real servers: hot standby, promotion, rewind and rejoin."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.integration.db_helpers import pg_pair, seqs_on, wait_until

pytestmark = pytest.mark.lab


def test_status_shows_primary_standby_and_lsn(lab):
    primary, standby = pg_pair(lab)
    st = lab.status()["postgres"]
    assert {primary, standby} == {"node1", "node2"}
    assert st["instances"][standby]["replicating_from"] == primary
    assert st["instances"][primary]["lsn"] and st["lag"] is not None


def test_the_unix_socket_asks_for_the_password_too(lab):
    """Issue 14: a socket that trusted every local user gave anyone the superuser."""
    primary, _ = pg_pair(lab)
    sockets = lab.layout.paths.service(primary, "postgres") / "run"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(host=str(sockets), port=lab.layout.ports.postgres, user="postgres",
                        dbname="postgres", connect_timeout=5)
    conn = psycopg.connect(host=str(sockets), port=lab.layout.ports.postgres, user="postgres",
                           dbname="postgres", password=lab.layout.secrets["postgres"],
                           connect_timeout=5)
    conn.close()  # the lab's own password still works there


def test_rows_on_the_primary_are_readable_on_the_hot_standby(lab):
    _, standby = pg_pair(lab)
    client = f"t-{uuid.uuid4().hex[:8]}"
    with lab.postgres.connect() as conn:
        for seq in range(1, 51):
            conn.execute("INSERT INTO writes (client, seq, created) VALUES (%s, %s, 0)",
                         (client, seq))
    wait_until(lambda: seqs_on(lab, standby, client) == set(range(1, 51)), 30,
               "all 50 rows readable on the standby")


def test_the_standby_refuses_writes(lab):
    _, standby = pg_pair(lab)
    read_only = psycopg.errors.ReadOnlySqlTransaction
    with lab.postgres.connect_to(standby) as conn, pytest.raises(read_only):
        conn.execute("INSERT INTO writes (client, seq, created) VALUES ('x', 1, 0)")


def test_primary_crash_mid_write_loop_promotes_the_standby_and_loses_nothing(lab):
    old, new = pg_pair(lab)
    load = lab.postgres.write_load(rate=30)
    wait_until(lambda: len(load.acked) >= 30, 30, "30 acknowledged rows before the fault")
    since = lab.events()[-1]["ts"]
    lab.fail(old, "crash")
    wait_until(lambda: lab.postgres.active() == new, 60, f"{new} promoted")
    count = len(load.acked)
    wait_until(lambda: len(load.acked) >= count + 20, 30, f"writes resuming on {new}")
    load.stop()
    with lab.postgres.connect() as conn:
        assert load.missing(conn) == []
    failover = [e for e in lab.events(since) if e["kind"] == "postgres_failover"]
    assert failover and failover[0]["node"] == new

    lab.recover(old)
    wait_until(lambda: lab.postgres.status()["instances"][old].get("streaming"), 120,
               f"{old} streaming from {new}")
    wait_until(lambda: set(load.acked) <= seqs_on(lab, old, load.client), 60,
               f"every acknowledged row on {old}")
    assert lab.postgres.active() == new


def test_app_servers_write_request_metrics_to_postgres(lab):
    _, standby = pg_pair(lab)
    apps = {n.name for n in lab.layout.topology.with_role("app")}
    with lab.client() as c:
        for _ in range(40):
            assert c.get("/api/node").status_code == 200

    def metrics_from_every_app():
        rows = c2.get("/api/monitoring/metrics", params={"limit": 200}).json()["metrics"]
        counted = {r["node"] for r in rows if r["requests"] > 0}
        return rows if counted >= apps else None

    with lab.client() as c2:
        wait_until(metrics_from_every_app, 60, "request counts from every app server")

    def started_on_standby() -> set[str]:  # replicated: the standby has the events too
        with lab.postgres.connect_to(standby) as conn:
            return {r["node"] for r in conn.execute(
                "SELECT DISTINCT node FROM events WHERE kind = 'app_up'").fetchall()}
    wait_until(lambda: started_on_standby() >= apps, 30, "every app server's start event")
