"""A steady write load for lessons and tests: numbered rows, each remembered once acknowledged.

Every row is `(client, seq)`; a row counts as acknowledged only when the server's COMMIT returned.
After a failover, `missing()` lists acknowledged rows the new active does not have — the number
a learner should see stay at zero.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from labkit.layout import Layout


class WriteLoad:
    """Insert rows at `rate` per second into one tier's `writes` table, in a background thread."""

    def __init__(self, layout: Layout, connect: Callable[[], Any], client: str,
                 placeholder: str = "%s") -> None:
        self.layout = layout
        self.connect = connect
        self.client = client
        self.ph = placeholder
        self.acked: list[int] = []
        self.errors: list[tuple[float, str]] = []
        self.seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: Any = None

    def write_one(self) -> bool:
        """One row; True once acknowledged. A failed write is retried under a new seq."""
        self.seq += 1
        try:
            if self._conn is None:
                self._conn = self.connect()
            with self._conn.cursor() as cur:
                cur.execute(f"INSERT INTO writes (client, seq, created) VALUES "
                            f"({self.ph}, {self.ph}, {self.ph})",
                            (self.client, self.seq, time.time()))
            self._conn.commit()
        except Exception as exc:  # noqa: BLE001 - any failure: unacknowledged, reconnect next time
            self.errors.append((time.time(), f"{type(exc).__name__}: {str(exc)[:100]}"))
            self._close()
            return False
        self.acked.append(self.seq)
        return True

    def start(self, rate: float = 20.0) -> WriteLoad:
        def loop() -> None:
            while not self._stop.is_set():
                t0 = time.monotonic()
                self.write_one()
                self._stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
        self._thread = threading.Thread(target=loop, daemon=True, name=f"writes-{self.client}")
        self._thread.start()
        return self

    def stop(self) -> WriteLoad:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
        self._close()
        return self

    def missing(self, conn: Any) -> list[int]:
        """Acknowledged seqs absent from the database behind `conn`."""
        with conn.cursor() as cur:
            cur.execute(f"SELECT seq FROM writes WHERE client = {self.ph}", (self.client,))
            rows = cur.fetchall()
        present = {r["seq"] if isinstance(r, dict) else r[0] for r in rows}
        return [s for s in self.acked if s not in present]

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None
