"""Clients that keep working through the VIP during a chaos run, and check their work after.

A workload counts every request (for availability) and remembers every write the cluster
acknowledged; `verify` then reports each acknowledged write it cannot find. Tiers add their own
workloads (database rows, files, device polls) by subclassing `Workload`.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod

import httpx

from labkit.cluster import Cluster


class Workload(ABC):
    name: str

    def __init__(self, lab: Cluster) -> None:
        self.lab = lab
        self.ok = 0
        self.failed = 0
        self.errors: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    @abstractmethod
    def step(self) -> None:
        """One operation; raise on failure (it is counted, not fatal)."""

    @abstractmethod
    def verify(self) -> list[str]:
        """After the run: one line per acknowledged write or promise that did not hold."""

    def run(self, stop: threading.Event, rate: float) -> None:
        interval = 1.0 / rate
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                self.step()
                with self._lock:
                    self.ok += 1
            except Exception as exc:  # noqa: BLE001 - every failure is data for availability
                with self._lock:
                    self.failed += 1
                    self.errors.append((time.time(), f"{self.name}: {type(exc).__name__}: "
                                                     f"{str(exc)[:120]}"))
            stop.wait(max(0.0, interval - (time.monotonic() - t0)))


class StickySessions(Workload):
    """Logged-in users whose every request must land on their session's node while it lives."""

    name = "sessions"

    def __init__(self, lab: Cluster, users: int = 4) -> None:
        super().__init__(lab)
        self.clients = [lab.client(timeout=3) for _ in range(users)]
        self.turn = 0
        self.violations: list[str] = []

    def step(self) -> None:
        client = self.clients[self.turn % len(self.clients)]
        self.turn += 1
        if "JSESSIONID" not in client.cookies:
            client.post("/api/login", json={"user": f"chaos{self.turn}"}).raise_for_status()
        r = client.get("/api/session")
        if r.status_code == 401:  # the session's node died and took it along: log in again
            client.cookies.clear()
            raise RuntimeError("session lost with its node")
        r.raise_for_status()
        route = client.cookies["JSESSIONID"].rpartition(".")[2]
        body = r.json()
        if body["node"] != route and body.get("store") == "memory":
            self.violations.append(f"session routed to {body['node']}, cookie says {route}")

    def verify(self) -> list[str]:
        for c in self.clients:
            c.close()
        return self.violations


class NodeRequests(Workload):
    """Plain GETs through the VIP: the simplest measure of what a client sees."""

    name = "requests"

    def step(self) -> None:
        httpx.get(self.lab.vip_url + "/api/node", timeout=3).raise_for_status()

    def verify(self) -> list[str]:
        return []


def default_workloads(lab: Cluster) -> list[Workload]:
    """The spine's workloads plus every tier's that is present in this lab."""
    # each tier's module builds on Workload from here, so they are imported on use
    from labkit.cassandra import chaos as files_chaos
    from labkit.db import chaos as db_chaos
    from labkit.devices import chaos as devices_chaos

    loads: list[Workload] = [NodeRequests(lab), StickySessions(lab)]
    for tier in (db_chaos, files_chaos, devices_chaos):
        loads += tier.workloads(lab)  # each returns [] when its tier is not in the lab
    return loads
