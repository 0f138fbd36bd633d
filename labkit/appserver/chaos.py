"""The spine's chaos workloads: plain requests and sticky sessions through the VIP.

Every tier names its own workloads in the tier registry (`labkit.tiers`); the chaos runner
gathers them. The base class is `labkit.chaos.workload.Workload`.
"""

from __future__ import annotations

from labkit.chaos.workload import Workload
from labkit.cluster import Cluster


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
            user, password = self.lab.auth()
            client.post("/api/login", json={"user": user, "password": password}
                        ).raise_for_status()
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

    def __init__(self, lab: Cluster) -> None:
        super().__init__(lab)
        # one client: a new one per request costs an SSL context and a connection, which on a
        # busy machine is slower than the request itself and would thin out the 1-s windows
        self.http = lab.client(timeout=3)

    def step(self) -> None:
        self.http.get("/api/node").raise_for_status()

    def verify(self) -> list[str]:
        self.http.close()
        return []


def workloads(lab: Cluster) -> list[Workload]:
    """Every lab has the spine: requests and sessions through the VIP."""
    return [NodeRequests(lab), StickySessions(lab)]
