"""Benchmarks of the spine: VIP failover gap, load-balancer overhead and fairness, start-up."""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections import Counter

import httpx

from bench.figures import Figure, percentile
from labkit import Cluster, LabError


def vip_gap(lab: Cluster, runs: int = 20,
            modes: tuple[str, ...] = ("crash", "freeze")) -> list[Figure]:
    """Client-visible gap: from the fault until a request through the VIP is answered again."""
    figures = []
    for mode in modes:
        gaps = [gap_once(lab, mode)[0] for _ in range(runs)]
        how = (f"{runs} runs: {mode} the VIP owner, GET /health through the VIP every 10 ms "
               "(in a thread, from before the fault) until the other LB node answers")
        figures += [Figure(f"vip_gap_{mode}_p50", percentile(gaps, 50), "s", how),
                    Figure(f"vip_gap_{mode}_p99", percentile(gaps, 99), "s", how)]
    return figures


def gap_once(lab: Cluster, mode: str, timeout: float = 60) -> tuple[float, str]:
    """One fault on the VIP owner: the gap from the fault until the VIP answers from another
    LB node (Apache's X-Labkit-LB header), and that node. The old owner is recovered and the VIP
    answering again before this returns.

    The client probes in a thread of its own from before the fault: `lab.fail(owner, "crash")`
    returns only once every killed process is gone (1.5-2 s on 2 busy cores), and a probe that
    started after it measured that wait, not the failover (the VIP had moved before it
    returned)."""
    owner = lab.status()["vip"]["owner"]
    answered: list[tuple[float, str]] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            t = time.monotonic()
            try:
                r = httpx.get(lab.vip_url + "/health", timeout=0.5)
                node = r.headers.get("x-labkit-lb")
                if r.status_code == 200 and node and node != owner:
                    answered.append((time.monotonic(), node))
                    return
            except httpx.HTTPError:
                pass
            stop.wait(max(0.0, 0.01 - (time.monotonic() - t)))

    t0 = time.monotonic()
    prober = threading.Thread(target=probe, daemon=True, name="vip-gap-probe")
    prober.start()
    try:
        lab.fail(owner, mode)
        prober.join(timeout=timeout)
    finally:
        stop.set()
        prober.join()
    if not answered:
        raise LabError(f"the VIP did not answer from another LB node within {timeout:g} s of "
                       f"the {mode} of {owner}")
    done, new = answered[0]
    gap = done - t0
    lab.recover(owner)
    lab.wait_vip()
    return gap, new


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
