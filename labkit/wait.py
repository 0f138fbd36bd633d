"""One way to wait: call a check until it holds, a deadline passes, or waiting is pointless.

Every wait of the lab (a port to answer, a pair to elect its active, a VIP to move) is this loop;
the caller says what it waits for and raises its own error, naming the log to read, on None.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(check: Callable[[], T], timeout: float, every: float = 0.1,
          stop: Callable[[], bool] | None = None) -> T | None:
    """Call `check()` every `every` seconds until it returns something truthy, and return that.
    None when `timeout` seconds pass first, or as soon as `stop()` is true (the program being
    waited for has died: no point in waiting out the clock)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if (stop is not None and stop()) or time.monotonic() >= deadline:
            return None
        time.sleep(every)


def retry(call: Callable[[], T], timeout: float, every: float = 0.5,
          errors: tuple[type[BaseException], ...] = (Exception,),
          on_error: Callable[[BaseException], None] | None = None) -> T:
    """Return `call()`, trying again while it raises one of `errors` (a tier still failing
    over); after `timeout` seconds the last error is raised. `on_error` sees each failure
    (to log it, or to drop a broken connection before the next try)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except errors as exc:
            if on_error is not None:
                on_error(exc)
            if time.monotonic() >= deadline:
                raise
        time.sleep(every)
