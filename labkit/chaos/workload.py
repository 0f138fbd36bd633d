"""What every chaos workload is: a client that keeps working during the run, every operation
recorded in the run's history (invoke → ok / fail / info, `labkit.chaos.history`).

Two kinds live on this base. Plain workloads (requests, sessions, uploads, device polls) define
`step` and check their own promises in `verify`. Set workloads (`SetAdds`, `SetReads`) work on a
tier's `SetTier`: several clients add unique elements, through the VIP and straight to the
database, and a reader reads the whole set from every replica; the runner then makes the final
read on the primary and the set-full checker (`labkit.chaos.checker`) gives each element its
verdict. Each tier keeps its own workloads beside its code; the runner gathers them from the tier
registry (`labkit.tiers`).

How an error becomes an outcome matters more than anything else here: calling a write *failed*
when it may have happened would hide a loss, so anything after the request left is ``info``.
"""

from __future__ import annotations

import itertools
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from labkit.chaos.history import History, Unknown

if TYPE_CHECKING:
    from labkit.cluster import Cluster

#: (what a read saw, the node that served the operation)
Served = tuple[list[str] | None, str | None]


def outcome_of(exc: BaseException) -> str:
    """fail when the request certainly did not happen, info when it may have."""
    if isinstance(exc, Unknown):
        return "info"
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return "fail"  # nothing was sent
    if isinstance(exc, httpx.TransportError):
        return "info"  # sent; the answer timed out or the connection broke
    return "fail"


def raise_for_http(r: httpx.Response) -> None:
    """An NBI answer as an outcome: 2xx ok; 4xx and "no writable ..." 503s certainly not done;
    any other 5xx may have been done (a 502 after the proxy forwarded, a 500 mid-commit)."""
    if r.is_success:
        return
    what = f"HTTP {r.status_code}: {r.text[:100]}"
    if r.status_code < 500:
        raise RuntimeError(what)
    if r.status_code == 503 and _not_done(r):
        raise RuntimeError(what)
    raise Unknown(what)


def _not_done(r: httpx.Response) -> bool:
    """Apache's own 503 (no app server to forward to), or the NBI saying "not done" (its
    `outcome` field, or a "no writable ..." answer from a route without that field)."""
    try:
        answer = r.json()
    except ValueError:
        return True  # not the NBI's JSON: the proxy never forwarded it
    if not isinstance(answer, dict):
        return False
    return answer.get("outcome") == "not done" or \
        str(answer.get("detail", "")).startswith("no writable")


class Workload(ABC):
    name: str
    #: what the history files this workload's operations under (availability is per tier)
    tier: str = ""

    def __init__(self, lab: Cluster) -> None:
        self.lab = lab
        self.ok = 0
        self.failed = 0
        self.errors: list[tuple[float, str]] = []
        self.history = History()
        self.process = getattr(self, "name", type(self).__name__)
        self._lock = threading.Lock()

    @abstractmethod
    def step(self) -> None:
        """One operation; raise on failure (it is counted, not fatal)."""

    @abstractmethod
    def verify(self) -> list[str]:
        """After the run: one line per acknowledged write or promise that did not hold."""

    @property
    def tier_name(self) -> str:
        return self.tier or self.name

    def attach(self, history: History) -> None:
        """Record into the run's history (the runner's clock) from now on."""
        self.history = history

    def tick(self) -> None:
        """One recorded operation; set workloads say what they add or read."""
        self.record("request", None, None, lambda: (self.step(), (None, None))[1])

    def record(self, f: str, value: Any, node: str | None,
               call: Callable[[], Served]) -> None:
        op = self.history.invoke(self.process, self.tier_name, f, value, node)
        try:
            result, served = call()
        except Exception as exc:  # noqa: BLE001 - every failure is data for the checker
            outcome = outcome_of(exc)
            text = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"  # one line
            self.history.complete(op, outcome, error=text)
            with self._lock:
                self.failed += 1
                self.errors.append((time.time(), f"{self.process}: {outcome}: {text}"))
            return
        self.history.complete(op, "ok", result=result, node=served)
        with self._lock:
            self.ok += 1

    def run(self, stop: threading.Event, rate: float) -> None:
        interval = 1.0 / rate
        while not stop.is_set():
            t0 = time.monotonic()
            self.tick()
            stop.wait(max(0.0, interval - (time.monotonic() - t0)))


class SetTier(ABC):
    """A tier's set under test: where elements are added and where the set is read."""

    tier: str

    def __init__(self, lab: Cluster, prefix: str) -> None:
        self.lab = lab
        self.prefix = prefix  # every element starts with it: this run's and nobody else's
        self.http = lab.client(timeout=5)

    @abstractmethod
    def add_vip(self, element: str) -> str | None:
        """Add through the NBI; return the database node that committed it."""

    @abstractmethod
    def add_direct(self, element: str) -> str | None:
        """Add straight to the database's primary (no app server in the way)."""

    @abstractmethod
    def replicas(self) -> list[str]:
        """Every node holding a copy."""

    @abstractmethod
    def read(self, node: str | None) -> list[str]:
        """This run's elements on `node` (None: through the VIP, from the primary)."""

    @abstractmethod
    def read_primary(self) -> Served:
        """The decisive final read: the elements on whichever node is primary now."""

    def settled(self) -> bool:
        """Both members back in their roles: the moment for the final read."""
        return True

    def clean(self) -> None:  # noqa: B027 - optional: a set may leave its rows
        """Remove this run's elements (after the final read)."""

    def close(self) -> None:
        self.http.close()


class SetAdds(Workload):
    """One client adding unique elements to a tier's set, via the VIP or straight."""

    def __init__(self, lab: Cluster, target: SetTier, process: str, via: str) -> None:
        super().__init__(lab)
        self.name = self.process = process
        self.tier = target.tier
        self.set, self.via = target, via
        self.counter = itertools.count(1)

    def step(self) -> None:
        raise NotImplementedError("set workloads record through tick()")

    def tick(self) -> None:
        element = f"{self.set.prefix}-{self.process}-{next(self.counter)}"
        add = self.set.add_vip if self.via == "vip" else self.set.add_direct
        self.record("add", element, self.via, lambda: (None, add(element)))

    def verify(self) -> list[str]:
        return []  # the set-full checker judges every element


class SetReads(Workload):
    """One client reading the whole set, in turn through the VIP and from every replica.

    At most `max_rate` reads a second: each read returns (and the history keeps) the whole set.
    """

    max_rate = 2.0

    def __init__(self, lab: Cluster, target: SetTier, process: str) -> None:
        super().__init__(lab)
        self.name = self.process = process
        self.tier = target.tier
        self.set = target
        self.where = itertools.cycle([None, *target.replicas()])

    def step(self) -> None:
        raise NotImplementedError("set workloads record through tick()")

    def run(self, stop: threading.Event, rate: float) -> None:
        super().run(stop, min(rate, self.max_rate))

    def tick(self) -> None:
        node = next(self.where)
        self.record("read", None, node or "vip", lambda: (self.set.read(node), node or "vip"))

    def verify(self) -> list[str]:
        return []
