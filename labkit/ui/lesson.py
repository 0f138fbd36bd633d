"""Small helpers the lessons share, so each lesson cell stays a line or two of plain code."""

from __future__ import annotations

import html
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from labkit import wait

if TYPE_CHECKING:
    from labkit.cluster import Cluster


def who_answers(cluster: Cluster, requests: int = 12) -> Counter[str]:
    """Send `requests` fresh (cookie-less) requests through the VIP; count the answering nodes."""
    seen: Counter[str] = Counter()
    for _ in range(requests):
        try:
            seen[httpx.get(cluster.vip_url + "/api/node", timeout=2,
                           auth=cluster.auth()).json()["node"]] += 1
        except (httpx.HTTPError, ValueError, KeyError):
            seen["error"] += 1
    return seen


def wait_until(check, timeout: float = 30, every: float = 0.3):  # noqa: ANN001, ANN201
    """Call `check()` until it returns something truthy; return that (or raise TimeoutError)."""
    value = wait.until(check, timeout, every)
    if not value:
        raise TimeoutError(f"still not true after {timeout:.0f}s")
    return value


def is_whole(cluster: Cluster) -> bool:
    st = cluster.status()
    return all(n["state"] == "up" and all(v == "running" for v in n["services"].values())
               for n in st["nodes"]) and st["vip"].get("owner") is not None


def make_whole(cluster: Cluster, timeout: float = 120) -> None:
    """Recover whatever is broken and wait until every node and service runs again and every
    app node is back in the round-robin (each lesson ends with this, so the next starts clean)."""
    cluster.recover_all()
    wait_until(lambda: is_whole(cluster), timeout)
    cluster.wait_vip(timeout)
    apps = {n.name for n in cluster.layout.topology.with_role("app")}
    wait_until(lambda: set(who_answers(cluster, 3 * len(apps))) == apps, timeout)


def vip_gap(cluster: Cluster, act: Callable[[], object], timeout: float = 60,
            quiet: float = 3.0) -> float:
    """Seconds the VIP's clients got no answer around `act()`: from the first request that
    failed to the next one answered (0.0 when none failed until `quiet` seconds after `act`
    returned). A client asks every 50 ms from before `act` starts (a fault can take longer to
    inject than the failover takes) and waits at most 0.5 s, as an impatient GUI would."""
    asks: list[tuple[float, bool]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=cluster.vip_url, timeout=0.5, auth=cluster.auth()) as c:
            while not stop.is_set():
                asked = time.monotonic()
                try:
                    ok = c.get("/api/node").status_code == 200
                except httpx.HTTPError:
                    ok = False
                asks.append((asked, ok))
                stop.wait(0.05)

    poller = threading.Thread(target=client, daemon=True, name="labkit-vip-gap")
    poller.start()
    try:
        act()
        acted, deadline = time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            failed = next((t for t, ok in list(asks) if not ok), None)
            if failed is not None:
                back = next((t for t, ok in list(asks) if ok and t > failed), None)
                if back is not None:
                    return back - failed
            elif time.monotonic() - acted > quiet:
                return 0.0
            time.sleep(0.05)
    finally:
        stop.set()
        poller.join(timeout=2)
    raise TimeoutError(f"the VIP did not answer again within {timeout:.0f}s")


# -- Apache's balancer, as the lessons on round-robin and sticky sessions read it ---------------
def member_settings(cluster: Cluster) -> dict[str, str]:
    """The settings every BalancerMember of the lab's Apache runs with, from the running
    httpd.conf (`hcinterval`, `hcfails`, `timeout`, ...), plus the balancer's own `ProxySet`
    settings (`lbmethod`, `stickysession`, `nofailover`)."""
    lb = cluster.layout.topology.with_role("lb")[0].name
    return parse_member_settings(cluster.config_files(f"{lb}/apache")["httpd.conf"].read_text())


def parse_member_settings(conf: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in conf.splitlines():
        words = line.split()
        if words and words[0] in ("BalancerMember", "ProxySet"):
            settings.update(w.split("=", 1) for w in words[1:] if "=" in w and '"' not in w)
    settings.pop("route", None)  # each member's own
    return settings


def balancer(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """What the VIP owner's balancer-manager shows for each member, by route: its `status`
    ("Init Ok"; "HcFl" when the health check failed, "Err" after a refused request), how often
    it was `elected`, how many requests are `busy` on it, and whether it is `usable`."""
    owner = cluster.status()["vip"].get("owner") or cluster.layout.topology.with_role("lb")[0].name
    url = f"http://{cluster.layout.address(owner)}:{cluster.layout.ports.http}/balancer-manager"
    return parse_balancer_manager(httpx.get(url, timeout=3, auth=cluster.auth("admin")).text)


def parse_balancer_manager(page: str) -> dict[str, dict[str, Any]]:
    """The members table of Apache's balancer-manager page (the one headed "Worker URL")."""
    def cells(row: str) -> list[str]:
        found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S | re.I)
        return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]

    members: dict[str, dict[str, Any]] = {}
    for table in re.findall(r"<table[^>]*>(.*?)</table>", page, re.S | re.I):
        rows = [cells(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S | re.I)]
        if not rows or "Worker URL" not in rows[0]:
            continue
        head = rows[0]
        for row in rows[1:]:
            if len(row) != len(head):
                continue
            m = dict(zip(head, row, strict=True))
            status = m.get("Status", "")
            members[m.get("Route") or m["Worker URL"]] = {
                "url": m["Worker URL"], "status": status,
                "elected": int(m.get("Elected") or 0), "busy": int(m.get("Busy") or 0),
                "usable": "Ok" in status.split() and not {"Err", "HcFl", "Dis", "Stop"}
                & set(status.split())}
    return members


@dataclass
class Ask:
    """One request of an `Asking` client: when it was sent (seconds after the client started),
    how long its answer took, the HTTP status (or the error's name) and the node that answered."""
    at: float
    took: float
    status: int | str
    node: str | None

    @property
    def ok(self) -> bool:
        return self.status == 200


class Asking:
    """A client asking the VIP in the background, one request after the other (each waits for
    its answer, up to `timeout`, as a browser does), `every` seconds apart. With `client` (e.g.
    a logged-in `lab.client()`) it sends that client's cookies; otherwise each request is fresh.

        with Asking(lab) as asking:
            lab.fail("node4", "freeze")
            ...
        asking.asks  # [Ask(at, took, status, node), ...]
    """

    def __init__(self, cluster: Cluster, every: float = 0.05, path: str = "/api/node",
                 client: httpx.Client | None = None, timeout: float = 10) -> None:
        self.cluster, self.every, self.path, self.timeout = cluster, every, path, timeout
        self.client = client
        self.asks: list[Ask] = []
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="labkit-asking")

    def now(self) -> float:
        """Seconds since the client started (the clock of `Ask.at`)."""
        return time.monotonic() - self.started

    def _run(self) -> None:
        own = self.client is None
        client = self.client or httpx.Client(base_url=self.cluster.vip_url,
                                             auth=self.cluster.auth())
        try:
            while not self._stop.is_set():
                at = self.now()
                try:
                    r = client.get(self.path, timeout=self.timeout,
                                   headers=None if not own else {"Connection": "close"})
                    try:
                        node = r.json().get("node") if r.status_code == 200 else None
                    except ValueError:
                        node = None
                    status: int | str = r.status_code
                except httpx.HTTPError as exc:
                    status, node = type(exc).__name__, None
                self.asks.append(Ask(round(at, 3), round(self.now() - at, 3), status, node))
                self._stop.wait(self.every)
        finally:
            if own:
                client.close()

    def __enter__(self) -> Asking:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 2)

    def since(self, at: float) -> list[Ask]:
        return [a for a in list(self.asks) if a.at >= at]


def seconds_until(check: Callable[[], object], timeout: float = 30, every: float = 0.1) -> float:
    """How long until `check()` is truthy (raises TimeoutError after `timeout`)."""
    start = time.monotonic()
    wait_until(check, timeout, every)
    return time.monotonic() - start


# -- the MySQL pair, as lesson 04 reads it -------------------------------------------------------
#: the SHOW SLAVE STATUS fields lesson 04 explains (MariaDB also answers SHOW REPLICA STATUS)
REPLICA_FIELDS = ("Master_Host", "Slave_IO_Running", "Slave_SQL_Running",
                  "Seconds_Behind_Master", "Gtid_IO_Pos", "Last_IO_Error", "Last_SQL_Error")


def mysql_root(cluster: Cluster, node: str) -> Any:
    """An administrator's pymysql connection to one MySQL instance (dict rows, autocommit):
    what a DBA would use to read replication state or stop a replication thread."""
    from labkit.db import mysql

    return mysql.connect(cluster.layout, node, user="root", database=None)


def replica_status(cluster: Cluster, node: str) -> dict[str, Any] | None:
    """The `REPLICA_FIELDS` of `SHOW SLAVE STATUS` on `node`, plus its `@@gtid_current_pos`
    (what it has applied); None when the instance replicates from nobody (the active)."""
    with mysql_root(cluster, node) as conn, conn.cursor() as cur:
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
        cur.execute("SELECT @@gtid_current_pos AS g")
        applied = cur.fetchone()["g"]
    if not row:
        return None
    return {**{k: row[k] for k in REPLICA_FIELDS}, "gtid_current_pos": applied}


def mysql_settings(cluster: Cluster, node: str) -> dict[str, Any]:
    """The replication settings an instance runs with, read from the server itself."""
    with mysql_root(cluster, node) as conn, conn.cursor() as cur:
        cur.execute("SELECT @@server_id AS server_id, @@read_only AS read_only, "
                    "@@gtid_current_pos AS gtid_current_pos, "
                    "@@rpl_semi_sync_master_enabled AS rpl_semi_sync_master_enabled, "
                    "@@rpl_semi_sync_master_wait_point AS rpl_semi_sync_master_wait_point, "
                    "@@rpl_semi_sync_master_timeout AS rpl_semi_sync_master_timeout, "
                    "@@sync_binlog AS sync_binlog")
        return dict(cur.fetchone())


# -- the PostgreSQL pair, as lesson 05 reads it -------------------------------------------------
#: the settings lesson 05 explains, as the running server reports them (SHOW)
PG_SETTINGS = ("wal_level", "synchronous_commit", "synchronous_standby_names",
               "wal_sender_timeout", "wal_receiver_timeout", "wal_receiver_status_interval",
               "hot_standby", "wal_log_hints", "wal_keep_size")


def pg_admin(cluster: Cluster, node: str) -> Any:
    """A superuser's psycopg connection to one PostgreSQL instance (dict rows, autocommit), on
    the `postgres` database: what a DBA would use to pause replay or read replication state."""
    from labkit.db import postgres

    return postgres.connect(cluster.layout, node, database="postgres")


def pg_settings(cluster: Cluster, node: str) -> dict[str, Any]:
    """The `PG_SETTINGS` an instance runs with, whether it is in recovery (a standby), and its
    timeline (`pg_timeline`)."""
    with pg_admin(cluster, node) as conn:
        out = {name: conn.execute(f"SHOW {name}").fetchone()[name] for name in PG_SETTINGS}
        out["pg_is_in_recovery"] = conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"]
    return {**out, "timeline": pg_timeline(cluster, node)}


def pg_timeline(cluster: Cluster, node: str) -> int | None:
    """The timeline an instance is on: a primary's from its last checkpoint (the watcher
    checkpoints right after a promotion), a standby's from the WAL it receives (None while it
    receives none)."""
    with pg_admin(cluster, node) as conn:
        if conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"]:
            row = conn.execute("SELECT received_tli AS tli FROM pg_stat_wal_receiver").fetchone()
        else:
            row = conn.execute("SELECT timeline_id AS tli FROM pg_control_checkpoint()").fetchone()
    return row["tli"] if row else None


def pg_replication(cluster: Cluster, primary: str) -> list[dict[str, Any]]:
    """`pg_stat_replication` on the primary, one row per streaming standby: how far it has got
    (`sent_lsn`, `write_lsn`, `flush_lsn`, `replay_lsn`) and, in bytes of WAL behind the
    primary's `pg_current_wal_lsn()`, what it has not flushed and not replayed yet."""
    from labkit.db.pg_watch import STANDBY

    with pg_admin(cluster, primary) as conn:
        return conn.execute(
            "SELECT application_name AS standby, state, sync_state, "
            "pg_current_wal_lsn()::text AS primary_lsn, sent_lsn::text, write_lsn::text, "
            "flush_lsn::text, replay_lsn::text, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint AS flush_behind_bytes, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS replay_behind_bytes "
            f"FROM pg_stat_replication WHERE {STANDBY}").fetchall()


def pg_standby_lsns(cluster: Cluster, standby: str) -> dict[str, Any]:
    """What a standby says itself: the WAL it has received and flushed to its disk, what it has
    replayed, the bytes between the two, and whether its replay is paused."""
    with pg_admin(cluster, standby) as conn:
        return conn.execute(
            "SELECT pg_last_wal_receive_lsn()::text AS received, "
            "pg_last_wal_replay_lsn()::text AS replayed, "
            "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint "
            "AS not_replayed_bytes, pg_is_wal_replay_paused() AS replay_paused").fetchone()
