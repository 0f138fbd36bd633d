from __future__ import annotations

import time

from labkit import wait


def test_until_returns_the_first_truthy_value():
    seen = iter([None, 0, "", "ready", "later"])
    assert wait.until(lambda: next(seen), timeout=5, every=0.01) == "ready"


def test_until_gives_none_after_the_timeout():
    t0 = time.monotonic()
    assert wait.until(lambda: False, timeout=0.2, every=0.05) is None
    assert time.monotonic() - t0 >= 0.2


def test_until_stops_early_when_waiting_is_pointless():
    calls = []
    t0 = time.monotonic()
    assert wait.until(lambda: calls.append(1), timeout=30, every=0.01,
                      stop=lambda: len(calls) >= 3) is None
    assert len(calls) == 3 and time.monotonic() - t0 < 5
