"""The device tier under chaos: inventory polls through the VIP, then "every device connected".

The workload discovers the whole fleet if nothing is discovered yet (so the end check means
something), polls one device record per step through the NBI, and after the run waits for the
cluster to settle and checks that every discovered device has its NETCONF session again.
"""

from __future__ import annotations

from labkit import wait
from labkit.chaos.workload import Workload
from labkit.cluster import Cluster
from labkit.devices import device_names
from labkit.errors import LabError


class DevicePolls(Workload):
    name = "device-polls"

    def __init__(self, lab: Cluster) -> None:
        super().__init__(lab)
        self.client = lab.client(timeout=3)
        if lab.devices.status().get("total", 0) == 0:
            lab.devices.discover()
        self.names = device_names(lab.layout.topology.devices.count)
        self.turn = 0

    def step(self) -> None:
        name = self.names[self.turn % len(self.names)]
        self.turn += 1
        r = self.client.get(f"/api/devices/{name}")
        if r.status_code == 404:
            return  # not discovered: nothing to poll
        r.raise_for_status()

    def verify(self) -> list[str]:
        self.client.close()
        try:
            self.lab.devices.wait_connected(timeout=120)
        except LabError as exc:
            return [f"{self.name}: {exc.message}"]
        doubled: list[str] = []

        def one_session_each() -> bool:  # the device side agrees with the rows
            nonlocal doubled
            rows = {r["name"]: r["node"] for r in self.lab.devices.rows()}
            fleet = self.lab.devices.fleet(sorted(rows))
            doubled = [d for d, s in fleet.items() if len(s["sessions"]) != 1]
            return not doubled

        if wait.until(one_session_each, 30, every=1):
            return []
        return [f"{self.name}: {len(doubled)} device(s) without exactly one session "
                f"(e.g. {', '.join(doubled[:5])})"]


def workloads(lab: Cluster) -> list[Workload]:
    spec = lab.layout.topology
    if spec.devices.count and spec.with_role("mysql"):
        return [DevicePolls(lab)]
    return []
