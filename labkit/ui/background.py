"""`Background`: one daemon thread that a view starts, stops and restarts without blocking.

The dashboard's refresh and the traffic generator both run beside the learner's cells: the
notebook's kernel must stay free, `stop()` must return promptly, and `start()` after a `stop()`
must give a fresh thread.
"""

from __future__ import annotations

import threading


class Background:
    """Subclasses set `thread_name` and write `_run`, which returns once `_stop` is set."""

    thread_name = "labkit-background"
    join_timeout = 5.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_timeout)
        self._thread = None
