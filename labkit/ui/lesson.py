"""Small helpers the lessons share, so each lesson cell stays a line or two of plain code."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

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
