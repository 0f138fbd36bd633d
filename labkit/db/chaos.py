"""Chaos workloads of the data tier: numbered writes to each pair, checked for loss afterwards."""

from __future__ import annotations

import time
from typing import Any

from labkit import wait
from labkit.chaos.workload import Workload
from labkit.cluster import Cluster
from labkit.db.load import WriteLoad


class TierWrites(Workload):
    """Writes through a tier's failover-aware connection; every acknowledged row must survive."""

    def __init__(self, lab: Cluster, name: str, tier: Any) -> None:
        super().__init__(lab)
        self.name = name
        self.tier = tier
        self.load = WriteLoad(lab.layout, tier.connect, f"chaos-{name}-{int(time.time())}",
                              tier.placeholder)

    def step(self) -> None:
        if not self.load.write_one():
            raise RuntimeError(self.load.errors[-1][1])

    def verify(self) -> list[str]:
        self.load.stop()
        try:  # the tier may still be finishing a failover
            missing = wait.retry(lambda: self.load.missing(self.tier.connect()), 60, every=1)
        except Exception as exc:  # noqa: BLE001 - any failure to read back is the verdict
            return [f"{self.name}: could not read back the writes: {exc}"]
        return [f"{self.name}: {len(missing)} acknowledged writes lost (seq {missing[:10]})"
                ] if missing else []


def workloads(lab: Cluster) -> list[Workload]:
    loads: list[Workload] = []
    if lab.layout.topology.with_role("mysql"):
        loads.append(TierWrites(lab, "mysql-writes", lab.mysql))
    if lab.layout.topology.with_role("postgres"):
        loads.append(TierWrites(lab, "postgres-writes", lab.postgres))
    return loads
