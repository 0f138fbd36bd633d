"""Small helpers the lessons share, so each lesson cell stays a line or two of plain code."""

from __future__ import annotations

from collections import Counter
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
