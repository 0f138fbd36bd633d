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

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
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
    yield SimpleNamespace(vip_url=f"http://127.0.0.1:{server.server_port}",
                          auth=lambda: ("learner", "pw"))
    server.shutdown()


def test_a_gap_during_a_slow_fault_is_measured(vip):
    def fault() -> None:  # the outage happens while the fault is still being injected
        _Handler.down.set()
        time.sleep(0.6)
        _Handler.down.clear()
        time.sleep(0.3)
    gap = vip_gap(vip, fault)
    assert 0.2 <= gap <= 1.5  # 0.6 s down; a loaded machine schedules the probe late, not never


def test_no_failed_request_is_a_gap_of_zero(vip):
    assert vip_gap(vip, lambda: None, quiet=0.3) == 0.0


def test_a_vip_that_never_answers_again_times_out(vip):
    with pytest.raises(TimeoutError, match="did not answer again"):
        vip_gap(vip, _Handler.down.set, timeout=0.5)
