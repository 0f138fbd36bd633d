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


def test_retry_returns_once_the_call_succeeds_and_shows_each_failure():
    from labkit import wait

    tries, seen = [], []

    def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("failing over")
        return "done"

    assert wait.retry(flaky, 5, every=0.01, errors=(ConnectionError,),
                      on_error=seen.append) == "done"
    assert len(tries) == 3 and len(seen) == 2


def test_retry_raises_the_last_error_after_the_timeout_and_never_swallows_others():
    import pytest

    from labkit import wait

    def down() -> None:
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError, match="still down"):
        wait.retry(down, 0.05, every=0.01, errors=(ConnectionError,))

    def bug() -> None:
        raise KeyError("a bug is not a failover")

    with pytest.raises(KeyError):
        wait.retry(bug, 5, every=0.01, errors=(ConnectionError,))
