"""Lesson 01 measures the gap its clients see (issue 15): the measurement starts before the
fault (injecting one can take longer than the failover), and says 0.0 only when no request
failed. Run against a small local HTTP server that stops answering for a while."""

from __future__ import annotations

import http.server
import threading
import time
from types import SimpleNamespace

import pytest

from labkit.ui.lesson import vip_gap


class _Handler(http.server.BaseHTTPRequestHandler):
    down = threading.Event()
    refused: list[float] = []  # when each 503 was sent

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.down.is_set():
            self.refused.append(time.monotonic())
        self.send_response(503 if self.down.is_set() else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def vip():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Handler.down.clear()
    _Handler.refused = []
    yield SimpleNamespace(vip_url=f"http://127.0.0.1:{server.server_port}",
                          auth=lambda: ("learner", "pw"))
    server.shutdown()


def test_a_gap_during_a_slow_fault_is_measured(vip):
    def fault() -> None:  # the outage happens while the fault is still being injected
        _Handler.down.set()
        # down until the probe has been refused three times and 0.3 s passed: a loaded machine
        # may schedule the probe late, so a fixed-length outage could fall between two probes
        deadline = time.monotonic() + 30
        while (len(_Handler.refused) < 3 or time.monotonic() - _Handler.refused[0] < 0.3) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        _Handler.down.clear()
        time.sleep(0.3)
    gap = vip_gap(vip, fault)
    refused = _Handler.refused
    assert len(refused) >= 3
    # the probe asks one request at a time: its first failure was sent before the first
    # refusal and its first success after the last, so the gap spans at least the refusals
    assert gap > 0 and gap >= refused[-1] - refused[0] - 0.01, (gap, refused)


def test_no_failed_request_is_a_gap_of_zero(vip):
    assert vip_gap(vip, lambda: None, quiet=0.3) == 0.0


def test_a_vip_that_never_answers_again_times_out(vip):
    with pytest.raises(TimeoutError, match="did not answer again"):
        vip_gap(vip, _Handler.down.set, timeout=0.5)
