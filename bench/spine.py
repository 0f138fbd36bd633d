"""Benchmarks of the spine: VIP failover gap, load-balancer overhead and fairness, start-up."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import threading
import time
from collections import Counter
from typing import NamedTuple

import httpx

from bench.figures import Figure, percentile
from labkit import Cluster, LabError


def vip_gap(lab: Cluster, runs: int = 20,
            modes: tuple[str, ...] = ("crash", "freeze")) -> list[Figure]:
    """Client-visible gap: from the fault until a request through the VIP is answered again,
    for the clients as a whole (`Gap.gap`) and for one client that gives up after 0.5 s and asks
    again (`Gap.one_client`, a reference: its figure rounds the gap up to its own timeouts)."""
    figures = []
    for mode in modes:
        gaps = [gap_once(lab, mode) for _ in range(runs)]
        figures += gap_figures("", mode, gaps, f"{mode} the VIP owner")
    return figures


def gap_figures(prefix: str, mode: str, gaps: list[Gap], fault: str) -> list[Figure]:
    """`<prefix>vip_gap_<mode>_p50/_p99` (the many clients) and `…_one_client_p99` of
    `gap_once`'s results, `fault` saying what was done to the VIP owner."""
    many, one = [g.gap for g in gaps], [g.one_client for g in gaps]
    how = (f"{len(gaps)} runs: {fault}; from before the fault a new GET /health through the VIP "
           f"every 10 ms, each on a connection of its own and waiting up to {PROBE_WAIT:g} s, "
           "until one is answered by the other LB node")
    one_how = (f"{len(gaps)} runs, the same faults: one client asking GET /health again 10 ms "
               f"after each answer or {ONE_CLIENT_WAIT:g} s timeout; a request it sent to the "
               "old owner just before the VIP moved costs it its whole timeout")
    name = f"{prefix}vip_gap_{mode}"
    return [Figure(f"{name}_p50", percentile(many, 50), "s", how),
            Figure(f"{name}_p99", percentile(many, 99), "s", how),
            Figure(f"{name}_one_client_p99", percentile(one, 99), "s", one_how)]


#: how long each request of the many clients waits (a frozen node never answers; longer than any
#: gap, so a request that was answered late counts at its answer)
PROBE_WAIT = 5.0
#: the timeout of the one impatient client (as lesson 01's and labkit.ui.lesson's do)
ONE_CLIENT_WAIT = 0.5


class Gap(NamedTuple):
    """One fault's gap for the clients as a whole, the LB node that answered, and the gap one
    client asking again after each timeout saw."""

    gap: float
    node: str
    one_client: float


def gap_once(lab: Cluster, mode: str, timeout: float = 60) -> Gap:
    """One fault on the VIP owner: the gap from the fault until the VIP answers from another
    LB node (Apache's X-Labkit-LB header). The old owner is recovered and the VIP answering
    again before this returns.

    The clients probe from a thread of their own from before the fault: `lab.fail(owner,
    "crash")` returns only once every killed process is gone (1.5-2 s on 2 busy cores), and a
    probe that started after it measured that wait, not the failover. They are many, a new
    request every 10 ms on its own connection: one client alone measured its own timeout too (a
    request it sent to a frozen node just before the VIP moved waits out its whole timeout,
    though the next one would have been answered), which put the freeze gap on steps of 0.5 s.
    The VIP owner is asked of the VIP itself (`vip_owner`), not of `status()`, which waits on
    every database's connect timeout where a container is dead."""
    owner = lab.backend.vip_owner()
    if owner is None:
        raise LabError("the VIP does not answer before the fault", "run `labkit reset`")
    probes = _Probes(lab.vip_url, owner)
    t0 = probes.start()
    try:
        lab.fail(owner, mode)
        probes.done.wait(timeout)
    finally:
        probes.stop()
    lab.recover(owner)  # first: a failed measurement leaves the lab whole
    lab.wait_vip()
    if probes.answered is None:
        raise LabError(f"the VIP did not answer from another LB node within {timeout:g} s of "
                       f"the {mode} of {owner}")
    done, new = probes.answered
    if probes.one_client is None:
        raise LabError(f"one client did not get an answer from {new} within "
                       f"{10 * ONE_CLIENT_WAIT:g} s of the many clients")
    return Gap(done - t0, new, probes.one_client - t0)


class _Probes:
    """The many clients and the one client of `gap_once`, on one event loop in a thread."""

    def __init__(self, url: str, owner: str) -> None:
        self.url, self.owner = url + "/health", owner
        self.answered: tuple[float, str] | None = None  # (monotonic, LB node)
        self.one_client: float | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True,
                                        name="vip-gap-probes")

    def start(self) -> float:
        t0 = time.monotonic()
        self._thread.start()
        return t0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _new_node(self, r: httpx.Response) -> str | None:
        node = r.headers.get("x-labkit-lb")
        return node if r.status_code == 200 and node and node != self.owner else None

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=PROBE_WAIT, limits=limits) as many, \
                httpx.AsyncClient(timeout=ONE_CLIENT_WAIT, limits=limits) as one:
            alone = asyncio.create_task(self._one(one))
            asked: set[asyncio.Task] = set()
            while self.answered is None and not self._stop.is_set():
                task = asyncio.create_task(self._ask(many))
                asked.add(task)
                task.add_done_callback(asked.discard)
                await asyncio.sleep(0.01)
            pending = list(asked)  # the rest wait on the old owner: not needed any more
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(asyncio.TimeoutError):  # it may wait out a timeout or two
                await asyncio.wait_for(alone, 10 * ONE_CLIENT_WAIT)
            self.done.set()

    async def _ask(self, client: httpx.AsyncClient) -> None:
        with contextlib.suppress(httpx.HTTPError):
            node = self._new_node(await client.get(self.url))
            if node and self.answered is None:
                self.answered = (time.monotonic(), node)

    async def _one(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if self._new_node(await client.get(self.url)):
                    self.one_client = time.monotonic()
                    return
            await asyncio.sleep(0.01)


def _ab(url: str, auth: tuple[str, str], requests: int = 3000, concurrency: int = 16) -> float:
    """ApacheBench's requests/s, sending the lab's NBI credentials (HTTP Basic) as clients do."""
    out = subprocess.run(["ab", "-q", "-k", "-n", str(requests), "-c", str(concurrency),
                          "-A", ":".join(auth), url],
                         capture_output=True, text=True, timeout=300).stdout
    match = re.search(r"Requests per second:\s+([\d.]+)", out)
    return float(match.group(1)) if match else float("nan")


def throughput(lab: Cluster) -> list[Figure]:
    """Requests/s through the VIP (segment + Apache + app) ÷ straight to one app server."""
    via_vip = _ab(lab.vip_url + "/api/node", lab.auth())
    direct = _ab(lab.layout.app_url("node3") + "/api/node", lab.auth())
    how = "ApacheBench, 3000 keep-alive GETs of /api/node at concurrency 16, same run"
    # ab speaks HTTP/1.0, and uvicorn keeps no HTTP/1.0 connection alive: straight to the app
    # server every request opens a connection of its own (Apache keeps the VIP's alive)
    direct_how = how + "; -k asked, but uvicorn closes an HTTP/1.0 connection after each answer"
    return [Figure("rps_via_vip", via_vip, "req/s", how),
            Figure("rps_direct_one_app", direct, "req/s", direct_how),
            Figure("rps_ratio_vip_over_direct", via_vip / direct if direct else None, "ratio",
                   how + "; >1 means the four app servers together beat one")]


def fairness(lab: Cluster, requests: int = 400) -> list[Figure]:
    counts = Counter(httpx.get(lab.vip_url + "/api/node", auth=lab.auth()).json()["node"]
                     for _ in range(requests))
    apps = [n.name for n in lab.layout.topology.with_role("app")]
    per = [counts.get(n, 0) for n in apps]
    return [Figure("round_robin_max_over_min", max(per) / max(1, min(per)), "ratio",
                   f"{requests} cookie-less GETs through the VIP, counted by answering node")]


def cold_start(lab_name: str, backend: str) -> tuple[Cluster, list[Figure]]:
    """`labkit up --backend BACKEND` from nothing (data purged), timed per component from its
    progress lines. The backend is always named: the default may change (netns where it runs)."""
    with contextlib.suppress(LabError):  # nothing to tear down
        Cluster.attach(lab_name).down(purge=True)
    marks: list[tuple[float, str]] = []
    t0 = time.monotonic()
    lab = Cluster.up(lab=lab_name, backend=backend,
                     progress=lambda m: marks.append((time.monotonic(), m)))
    total = time.monotonic() - t0
    waits: dict[str, float] = {}
    for (t, msg), (t_next, _) in zip(marks, marks[1:] + [(time.monotonic(), "")], strict=True):
        if msg.startswith("waiting for "):
            component = "vip" if msg == "waiting for the VIP to answer" else msg.split()[2]
            waits[component] = waits.get(component, 0.0) + (t_next - t)
    how = "wall time from the start of `up` (data purged) until the VIP answered"
    figures = [Figure("cold_up_total", total, "s", how)]
    figures += [Figure(f"cold_up_wait_{c.lower()}", v, "s",
                       "time `up` spent waiting for this component to answer, summed over nodes")
                for c, v in waits.items()]
    return lab, figures


def warm_start(lab: Cluster) -> tuple[Cluster, list[Figure]]:
    """`labkit down` (data kept), then `labkit up` again, timed until the VIP answers: no
    database is initialised again, Cassandra replays its commit log instead of creating its
    keyspaces (issue 17: warm `up` <= 10 s). Returns the restarted lab."""
    name, backend = lab.layout.lab, lab.layout.backend
    lab.down()
    t0 = time.monotonic()
    lab = Cluster.up(lab=name, backend=backend)
    return lab, [Figure("warm_up_total", time.monotonic() - t0, "s",
                        "wall time of `up` after `down` with the data kept, until the VIP "
                        "answered")]


def memory(lab: Cluster) -> list[Figure]:
    res = lab.status(resources=True)["resources"]
    figures = [Figure("lab_rss_total", res["total"] / 2**20, "MiB",
                      "sum of resident memory (RSS) of every process of the lab (psutil); "
                      "pages shared between processes count once per process"),
               Figure("lab_pss_total", res["pss_total"] / 2**20, "MiB",
                      "sum of proportional set size (PSS) of every process of the lab: shared "
                      "pages counted once, what a memory limit sees")]
    per_service: dict[str, int] = {}
    for services in res["rss"].values():
        for name, rss in services.items():
            per_service[name] = per_service.get(name, 0) + rss
    figures += [Figure(f"rss_{name}", v / 2**20, "MiB", "summed over nodes")
                for name, v in sorted(per_service.items())]
    return figures
