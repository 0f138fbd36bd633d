"""Small helpers the lessons share, so each lesson cell stays a line or two of plain code."""

from __future__ import annotations

import html
import math
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
    """Send `requests` fresh (cookie-less) requests through the VIP; count the answering nodes
    ("error" for each that failed): `Cluster.answering`, under the name the lessons use."""
    return cluster.answering(requests)


def wait_until(check, timeout: float = 30, every: float = 0.3):  # noqa: ANN001, ANN201
    """Call `check()` until it returns something truthy; return that (or raise TimeoutError)."""
    value = wait.until(check, timeout, every)
    if not value:
        raise TimeoutError(f"still not true after {timeout:.0f}s")
    return value


def make_whole(cluster: Cluster, timeout: float = 120) -> None:
    """`labkit reset`: recover whatever is broken, heal the links, and wait until every node
    and service runs again and every app node is back in the round robin (each lesson ends
    with this, so the next starts clean)."""
    cluster.reset(timeout=timeout)


@dataclass
class Outage:
    """What `vip_outage`'s client saw: the gap, and every probe as (Unix time asked, answered?),
    the times `labkit.ui.timeline` puts beside the lab's events."""

    gap: float
    probes: list[tuple[float, bool]]


def vip_gap(cluster: Cluster, act: Callable[[], object], timeout: float = 60,
            quiet: float = 3.0) -> float:
    """Seconds the VIP's clients got no answer around `act()` (`vip_outage`'s gap)."""
    return vip_outage(cluster, act, timeout, quiet).gap


def vip_outage(cluster: Cluster, act: Callable[[], object], timeout: float = 60,
               quiet: float = 3.0) -> Outage:
    """How long the VIP's clients got no answer around `act()`: from the first request that
    failed to the next one answered (0.0 when none failed until `quiet` seconds after `act`
    returned), and every probe. A client asks every 50 ms from before `act` starts (a fault can
    take longer to inject than the failover takes) and waits at most 0.5 s, as an impatient GUI
    would."""
    asks: list[tuple[float, float, bool]] = []  # (monotonic, Unix time, answered)
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=cluster.vip_url, timeout=0.5, auth=cluster.auth()) as c:
            while not stop.is_set():
                asked, wall = time.monotonic(), time.time()
                try:
                    ok = c.get("/api/node").status_code == 200
                except httpx.HTTPError:
                    ok = False
                asks.append((asked, wall, ok))
                stop.wait(0.05)

    poller = threading.Thread(target=client, daemon=True, name="labkit-vip-gap")
    poller.start()
    gap: float | None = None
    try:
        act()
        acted, deadline = time.monotonic(), time.monotonic() + timeout
        while gap is None and time.monotonic() < deadline:
            failed = next((t for t, _, ok in list(asks) if not ok), None)
            if failed is not None:
                back = next((t for t, _, ok in list(asks) if ok and t > failed), None)
                gap = None if back is None else back - failed
            elif time.monotonic() - acted > quiet:
                gap = 0.0
            time.sleep(0.05)
    finally:
        stop.set()
        poller.join(timeout=2)
    if gap is None:
        raise TimeoutError(f"the VIP did not answer again within {timeout:.0f}s")
    return Outage(gap, [(wall, ok) for _, wall, ok in asks])


# -- Apache's balancer, as the lessons on round-robin and sticky sessions read it ---------------
def member_settings(cluster: Cluster) -> dict[str, str]:
    """The settings every BalancerMember of the lab's Apache runs with, from the running
    httpd.conf (`hcinterval`, `hcfails`, `timeout`, ...), plus the balancer's own `ProxySet`
    settings (`lbmethod`, `stickysession`, `nofailover`)."""
    lb = cluster.layout.topology.with_role("lb")[0].name
    return parse_member_settings(cluster.config_files(f"{lb}/apache")["httpd.conf"].read_text())


def parse_member_settings(conf: str) -> dict[str, str]:
    """The settings of `<Proxy "balancer://app">`, the balancer of every route that answers from
    the app server's memory (/api/node, /health); `balancer://app-slow` (the routes that wait on
    a database, with a longer `timeout`) is left out."""
    settings: dict[str, str] = {}
    inside = False
    for line in conf.splitlines():
        words = line.split()
        if words[:1] == ["<Proxy"]:
            inside = words[1].strip('">') == "balancer://app"
        elif words and words[0] in ("BalancerMember", "ProxySet") and inside:
            settings.update(w.split("=", 1) for w in words[1:] if "=" in w and '"' not in w)
    settings.pop("route", None)  # each member's own
    return settings


def apache_seconds(value: str) -> float:
    """An Apache duration as httpd.conf writes it: seconds (`5`), or with a unit (`200ms`)."""
    return float(value[:-2]) / 1000 if value.endswith("ms") else float(value)


def balancer(cluster: Cluster, name: str = "app") -> dict[str, dict[str, Any]]:
    """What the VIP owner's balancer-manager shows for each member of `balancer://NAME` (`app`,
    the balancer of /api/node, or `app-slow`), by route: its `status` ("Init Ok"; "HcFl" when
    the health check failed, "Err" after a refused request), how often it was `elected`, how
    many requests are `busy` on it, and whether it is `usable`."""
    owner = cluster.status()["vip"].get("owner") or cluster.layout.topology.with_role("lb")[0].name
    url = f"http://{cluster.layout.address(owner)}:{cluster.layout.ports.http}/balancer-manager"
    return parse_balancer_manager(httpx.get(url, timeout=3, auth=cluster.auth("admin")).text,
                                  name)


def parse_balancer_manager(page: str, name: str = "app") -> dict[str, dict[str, Any]]:
    """The members table (the one headed "Worker URL") of `balancer://NAME` on Apache's
    balancer-manager page. The page lists its balancers in no fixed order, each under a heading
    "LoadBalancer Status for balancer://NAME": `app` is the one of /api/node; `app-slow`, the
    one of the routes that wait on a database, notices a frozen member later."""
    def cells(row: str) -> list[str]:
        found = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S | re.I)
        return [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]

    sections = re.split(r"<h3>\s*LoadBalancer Status for", page, flags=re.I)[1:]
    section = next((s for s in sections
                    if re.sub(r"<[^>]+>", "", s.split("</h3>", 1)[0]).split()[:1]
                    == [f"balancer://{name}"]), "")
    members: dict[str, dict[str, Any]] = {}
    for table in re.findall(r"<table[^>]*>(.*?)</table>", section, re.S | re.I):
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
        break
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


# -- the device fleet, as lessons 07 and 08 read it -------------------------------------------
def app_nodes(cluster: Cluster) -> list[str]:
    """The lab's app nodes, the ones that mediate devices, in natural order (node2 before
    node10, the order of every placement rule)."""
    from labkit.devices import mediation

    return mediation.ordered(n.name for n in cluster.layout.topology.with_role("app"))


def spare_app_node(cluster: Cluster) -> str | None:
    """An app node a lesson may crash to watch its devices move, or None when the lab has none.
    Its loss must leave the others a quorum (or nobody may move its devices), and a node that
    is only an app server is preferred: crashing the VIP's owner or a database's node adds
    their failovers to the story."""
    from labkit.devices import mediation

    apps = app_nodes(cluster)
    fit = [n for n in apps if mediation.has_quorum([a for a in apps if a != n], apps)]
    if len(apps) < 2 or not fit:
        return None
    owner = cluster.status()["vip"].get("owner")
    topology = cluster.layout.topology
    return min(fit, key=lambda n: (len(topology.node(n).roles) > 1, n == owner,
                                   -apps.index(n)))


def crash_and_count(cluster: Cluster, node: str, every: float = 0.2, timeout: float = 120
                    ) -> tuple[list[tuple[float, int]], float]:
    """Crash `node` and count the connected devices every `every` seconds until it holds none
    and every device is connected again. The crash runs in the background (killing a node's
    processes takes a moment itself), so the count starts with it. Returns the timeline
    [(seconds since the crash began, connected devices)] and the Unix time the crash began."""
    crash = threading.Thread(target=cluster.fail, args=(node, "crash"), name="labkit-crash")
    began, t0 = time.time(), time.monotonic()
    crash.start()
    timeline: list[tuple[float, int]] = []
    while True:
        st = cluster.devices.status()
        now = time.monotonic() - t0
        timeline.append((round(now, 2), st.get("connected", 0)))
        if not crash.is_alive() and st.get("counts", {}).get(node) == 0 \
                and st.get("connected") == st.get("total"):
            return timeline, began
        if now > timeout:
            crash.join()
            raise TimeoutError(f"{st.get('connected')} of {st.get('total')} devices connected "
                               f"{timeout:.0f}s after {node} crashed")
        time.sleep(every)


def netconf_hello(cluster: Cluster, device: str) -> dict[str, Any]:
    """Open a NETCONF session to `device` the way a node does (SSH, the `netconf` subsystem,
    hellos both ways), ask it `<get-software-information/>` and close politely. Returns what
    the device's hello said (its capabilities, the session id) and the framing both ends
    agreed on. Runs in a thread of its own: the notebook's kernel already has an event loop."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from labkit import devices
    from labkit.devices import config
    from labkit.devices.netconf import NetconfClient

    layout = cluster.layout

    async def talk() -> dict[str, Any]:
        client = await NetconfClient.connect(
            layout.fleet_address, devices.device_port(layout, device), devices.USER,
            devices.password(layout), devices.public_host_key(layout), timeout=10)
        try:
            info = await client.rpc("<get-software-information/>", timeout=10)
            model = next((e.text for e in info.iter()
                          if config.local(e.tag) == "product-model"), None)
            return {"device": device, "capabilities": client.server_capabilities,
                    "session_id": client.session_id, "framing": client.framing,
                    "model": model}
        finally:
            await client.close()

    with ThreadPoolExecutor(1, thread_name_prefix="labkit-netconf") as pool:
        return pool.submit(asyncio.run, talk()).result(timeout=30)


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


# -- partitions, as lesson 10 reads them -----------------------------------------------------------
def reachability(cluster: Cluster) -> dict[str, set[str]]:
    """Which nodes each node's frames reach right now, as the switch decides: `reaches[a]` holds
    every other node unless the link a → b is cut (a cut, a partition, the cut half of a flapping
    link) or either end is isolated, crashed or frozen. A directed map: a one-way cut removes one
    direction only. On loopback (the local backend) this is what the lab *means*, not what the
    kernel does: there, isolation cuts less (see the isolate event's message)."""
    from labkit import links

    names = [n.name for n in cluster.layout.nodes]
    out = {n for n in names if cluster.backend.node_state(n) != "up"}
    cut = {(f.src, f.dst) for f in links.in_force(cluster.backend.links(), time.time()) if f.cut}
    return {a: {b for b in names if b != a and not {a, b} & out and (a, b) not in cut}
            for a in names}


def pairs_whole(cluster: Cluster) -> bool:
    """Both database pairs whole: an active with a standby that replicates and has caught up,
    and neither active going on alone (a failover would be allowed again)."""
    my, pg = cluster.mysql.status(), cluster.postgres.status()
    if my.get("instances"):  # a topology without a MySQL pair has none
        sb = my["instances"].get(my["standby"]) if isinstance(my.get("standby"), str) else None
        if not (sb and sb.get("sql_running") == "Yes" and sb.get("lag") == 0 and not my["alone"]):
            return False
    if pg.get("instances"):
        sb = pg["instances"].get(pg["standby"]) if isinstance(pg.get("standby"), str) else None
        if not (sb and sb.get("streaming") and not pg["alone"]):
            return False
    return True


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


# -- lesson 09: client errors per second, for fault bands over them --------------------------


def client_errors(ops: list[Any], length: float, width: float = 1.0) -> dict[str, list[int]]:
    """Per tier, how many operations came back not ok (fail or info) in each `width`-second
    window of a chaos history, counted where they ended (a hung request counts when its client
    gave up), zero-filled so a quiet second shows as 0. The final reads are not the run's."""
    n = max(1, math.ceil(length / width))
    out: dict[str, list[int]] = {}
    for op in ops:
        if op.final:
            continue
        counts = out.setdefault(op.tier, [0] * n)
        if op.type in ("fail", "info") and op.end is not None and 0 <= op.end < n * width:
            counts[int(op.end // width)] += 1
    return out


# -- the running configs, as lesson 12 reads them -----------------------------------------------
def config_lines(cluster: Cluster, target: str, file: str, *names: str) -> list[str]:
    """The lines of `file` of `NODE/SERVICE` (what `labkit config` prints) that set one of
    `names`, numbered as in the file: a line counts when its part before any `#` holds the name
    (`-` and `_` alike, as MariaDB reads them). Commented-out defaults are left out."""
    wanted = [n.replace("-", "_") for n in names]
    text = cluster.config_files(target)[file].read_text()
    return [f"{i:>4}: {line.rstrip()}" for i, line in enumerate(text.splitlines(), 1)
            if any(w in line.split("#", 1)[0].replace("-", "_") for w in wanted)]


# -- a second lab beside the main one, as lesson 13 starts it ------------------------------------
def pauses(events: list[dict[str, Any]]) -> list[float]:
    """How long each frozen node stayed frozen, in seconds, from a lab's event log: from when the
    freeze began (the `fault` event's `at`) to the node's next `recover` event, oldest first. A
    freeze not recovered yet has no length and is left out."""
    out: list[float] = []
    for i, ev in enumerate(events):
        if ev.get("kind") == "fault" and ev.get("mode") == "freeze":
            thaw = next((e for e in events[i + 1:] if e.get("kind") == "recover"
                         and e.get("node") == ev.get("node")), None)
            if thaw is not None:
                out.append(thaw["ts"] - float(ev.get("at", ev["ts"])))
    return out


def memory_short(needed_mib: float, available: int | None = None) -> str | None:
    """None when this machine can hold `needed_mib` MiB more (psutil's `available`: free memory
    plus what the kernel can reclaim, in bytes, unless given); otherwise one sentence saying
    what is missing, for a lesson that then skips its experiment instead of pushing a 2 GB
    Binder session into the OOM killer."""
    if available is None:
        import psutil

        available = psutil.virtual_memory().available
    have = available / 2**20
    if have >= needed_mib:
        return None
    return (f"This machine has {have:.0f} MiB of memory available and the small lab needs about "
            f"{needed_mib:.0f} MiB, so its experiments are skipped here; read the cells and the "
            "numbers in the text, or run them on a larger machine.")
