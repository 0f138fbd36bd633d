"""A traffic generator in a background thread: what "clients" means in the dashboard.

Each request goes through the VIP and records which app node answered, so the requests chart
shows round-robin (fresh client per request) or stickiness (one logged-in session) as it happens.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

import httpx

from labkit.ui.background import Background

ERROR = "error"


class Traffic(Background):
    """`start()` / `stop()`; `rate` (requests per second) and `sticky` may change while running."""

    thread_name = "labkit-traffic"

    def __init__(self, vip_url: str, auth: tuple[str, str], rate: float = 5.0,
                 sticky: bool = False, keep_seconds: float = 120.0) -> None:
        super().__init__()
        self.vip_url = vip_url
        self.auth = auth  # (user, password): round-robin requests send it, sessions log in
        self.rate = rate
        self.sticky = sticky
        self.keep_seconds = keep_seconds
        self.answers: deque[tuple[float, str]] = deque()
        self.lost_sessions = 0
        self._lock = threading.Lock()

    def _run(self) -> None:
        with httpx.Client(base_url=self.vip_url, timeout=2) as client:
            # round-robin requests authenticate each time (HTTP Basic); sticky ones carry only
            # the session cookie, so a session lost with its node shows as a refused request
            while not self._stop.is_set():
                began = time.monotonic()
                self._record(self._one(client))
                self._stop.wait(max(0.0, 1.0 / max(self.rate, 0.1) - (time.monotonic() - began)))

    def _one(self, client: httpx.Client) -> str:
        """One request; returns the answering node or ERROR."""
        try:
            if not self.sticky:
                client.cookies.clear()
                return client.get("/api/node", auth=self.auth).json()["node"]
            if "JSESSIONID" not in client.cookies:
                user, password = self.auth
                return client.post("/api/login", json={"user": user, "password": password}
                                   ).json()["node"]
            r = client.get("/api/session")
            if r.status_code == 401:  # the session's node died: log in again elsewhere
                self.lost_sessions += 1
                client.cookies.clear()
                return ERROR
            return r.json()["node"]
        except (httpx.HTTPError, ValueError, KeyError):
            return ERROR

    def _record(self, node: str) -> None:
        now = time.time()
        with self._lock:
            self.answers.append((now, node))
            while self.answers and self.answers[0][0] < now - self.keep_seconds:
                self.answers.popleft()

    def recent(self, seconds: float = 10.0) -> Counter[str]:
        """How many answers each node (and ERROR) gave in the last `seconds`."""
        since = time.time() - seconds
        with self._lock:
            return Counter(node for ts, node in self.answers if ts >= since)

    def per_second(self, now: float | None = None) -> dict[str, list[tuple[int, int]]]:
        """{node: [(whole second, answers in it), ...]} over what is kept, every finished second
        from the first kept one present: a second without answers counts 0, so an outage draws
        as a drop to zero, not as a line across the gap (the second still running is left out:
        its count is not known yet)."""
        with self._lock:
            counts = Counter((int(ts), node) for ts, node in self.answers)
        if not counts:
            return {}
        first, last = min(sec for sec, _ in counts), int(time.time() if now is None else now) - 1
        nodes = sorted({node for _, node in counts})
        return {node: [(sec, counts.get((sec, node), 0)) for sec in range(first, last + 1)]
                for node in nodes}

    def snapshot(self) -> dict[str, Any]:
        return {"running": self.running, "rate": self.rate, "sticky": self.sticky,
                "last_10s": dict(self.recent(10)), "lost_sessions": self.lost_sessions}
