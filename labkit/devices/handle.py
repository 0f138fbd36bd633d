"""`cluster.devices`: the lessons' and tests' handle on the managed devices and their jobs.

    lab = Cluster.attach()
    lab.devices.discover(100)           # through the VIP, like any NBI client
    lab.devices.wait_connected()        # every discovered device has its NETCONF session
    lab.devices.counts()                # {'node1': 25, 'node2': 25, ...}
    job = lab.devices.resync(wait=True) # one sub-job per node, with timings
    lab.devices.fail(["dev0007"], seconds=10)   # the device drops, and comes back by itself

Reads come from MySQL and the fleet directly (they work while the VIP moves); changes go through
the NBI, which retries while a dead app server is still in the balancer's rotation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from labkit import answers, wait
from labkit.backends.base import Backend
from labkit.devices import control
from labkit.errors import LabError
from labkit.layout import Layout

Progress = Callable[[dict[str, Any]], None]


class Lab(Protocol):
    """What this handle needs of the lab it belongs to; `labkit.Cluster` is one. (A protocol,
    not the class: the facade imports its handles, never the other way round.)"""

    layout: Layout
    backend: Backend

    def client(self, https: bool = False, user: str = "learner",
               **kwargs: Any) -> httpx.Client: ...


class DevicesTier:
    def __init__(self, cluster: Lab) -> None:
        self.cluster = cluster
        self.layout = cluster.layout

    # -- the NBI ------------------------------------------------------------------------------
    def call(self, method: str, path: str, patience: float = 30.0, user: str = "learner",
             **kwargs: Any) -> Any:
        """One NBI request through the VIP as `user`; retried while the cluster answers
        502/503."""
        deadline = time.monotonic() + patience
        last = ""
        with self.cluster.client(timeout=15, user=user) as client:
            while True:
                try:
                    r = client.request(method, path, **kwargs)
                    if r.status_code < 400:
                        return r.json()
                    detail = answers.detail(r)
                    if r.status_code not in (502, 503, 504):
                        raise LabError(f"{method} {path} refused: {detail}")
                    last = f"HTTP {r.status_code}: {detail}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                if time.monotonic() > deadline:
                    raise LabError(f"{method} {path} failed for {patience:.0f}s ({last})",
                                   "see `labkit status`: is MySQL or the VIP failing over?")
                time.sleep(0.5)

    def discover(self, count: int | None = None, devices: list[str] | None = None
                 ) -> dict[str, Any]:
        """Discover the first `count` devices of the fleet (default: all of them)."""
        if devices is None and count is None:
            count = self.layout.topology.devices.count
        body = {"devices": devices} if devices is not None else {"count": count}
        return self.call("POST", "/api/devices/discover", json=body)

    def rebalance(self, nodes: list[str] | None = None) -> dict[str, Any]:
        return self.call("POST", "/api/devices/rebalance", json={"nodes": nodes})

    def forget(self) -> int:
        """Forgetting devices is the admin's: this call sends the lab's admin credentials."""
        return self.call("POST", "/api/devices/forget", json={"all": True},
                         user="admin")["forgotten"]

    def resync(self, count: int | None = None, wait: bool = True, timeout: float = 300,
               progress: Progress | None = None) -> dict[str, Any]:
        """Start a resync of the first `count` discovered devices (default all); with `wait`,
        return the finished job."""
        job = self.call("POST", "/api/jobs/resync", json={"count": count} if count else {})
        return self.wait_job(job["id"], timeout, progress) if wait else job

    def job(self, job_id: int) -> dict[str, Any]:
        return self.call("GET", f"/api/jobs/{job_id}")

    def wait_job(self, job_id: int, timeout: float = 300, progress: Progress | None = None
                 ) -> dict[str, Any]:
        job: dict[str, Any] = {}

        def finished() -> dict[str, Any] | None:
            nonlocal job
            job = self.job(job_id)
            if progress:
                progress(job)
            return job if job["state"] != "running" else None

        if wait.until(finished, timeout, every=0.2):
            return job
        raise LabError(f"job {job_id} still running after {timeout:.0f}s "
                       f"({job['done']}/{job['total']} devices)")

    # -- looking (straight from MySQL, the membership files and the fleet) --------------------
    def status(self) -> dict[str, Any]:
        """The `devices` section of `labkit status` (total, connected, counts, per_node)."""
        from labkit.devices.server import device_sections

        live = [n.name for n in self.layout.nodes
                if self.cluster.backend.node_state(n.name) == "up"]
        return device_sections(self.layout, live)["devices"]

    def rows(self) -> list[dict[str, Any]]:
        """Every discovered device as MySQL records it: node, session_node, model, framing..."""
        from labkit.devices.store import Store

        store = Store(self.layout)
        try:
            return store.devices()
        finally:
            store.close()

    def counts(self) -> dict[str, int]:
        return self.status().get("counts", {})

    def membership(self) -> dict[str, list[str] | None]:
        """Each app node's view of the cluster (None: the node is not running)."""
        from labkit.devices.server import membership_views

        return membership_views(self.layout)

    def wait_connected(self, timeout: float = 120, progress: Progress | None = None
                       ) -> float:
        """Wait until every discovered device is connected; returns the seconds it took."""
        t0 = time.monotonic()
        while True:
            st = self.status()
            if progress:
                progress(st)
            if "error" not in st and st["connected"] == st["total"]:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise LabError(f"{st.get('connected')} of {st.get('total')} devices connected "
                               f"after {timeout:.0f}s", "see `labkit events` and the app logs")
            time.sleep(0.1)

    # -- the fleet ----------------------------------------------------------------------------
    def fleet(self, devices: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per device as the device sees it: up, sessions (peer addresses), RPC counters."""
        return control.state(self.layout, devices)

    def fail(self, devices: list[str], seconds: float | None = None) -> list[str]:
        return control.fail(self.layout, devices, seconds)

    def restore(self, devices: list[str] | None = None) -> list[str]:
        return control.restore(self.layout, devices)

    def set_latency(self, ms: float, devices: list[str] | None = None) -> int:
        """How long each device takes to answer an RPC (the topology's latency_ms by default)."""
        return control.set_latency(self.layout, ms, devices)

    def __repr__(self) -> str:
        return f"<devices of {self.layout.lab}: fleet of {self.layout.topology.devices.count}>"

