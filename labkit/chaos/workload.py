"""What every chaos workload is: a client that keeps working during the run, then checks.

A workload counts every request (for availability) and remembers every write the cluster
acknowledged; `verify` then reports each acknowledged write it cannot find. Each tier keeps its
own workloads beside its code (database rows, files, device polls) and builds them on this class;
the chaos runner gathers them from the tier registry (`labkit.tiers`).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
