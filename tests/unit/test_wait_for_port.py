"""component.wait_for_port's failure says which failure it was: a service that exited is not
one that is still starting, and the log's last lines come with either."""

from __future__ import annotations

import socket

import pytest

from labkit.component import wait_for_port
from labkit.errors import LabError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_service_that_exited_is_said_to_have_exited_with_its_log(tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("starting\nUnrecognized VM option 'NoSuchFlag'\n")
    with pytest.raises(LabError) as err:
        wait_for_port("127.0.0.1", _closed_port(), 30, "svc", log, alive=lambda: False)
    assert "svc failed to start: it exited before 127.0.0.1:" in err.value.message
    assert "within" not in err.value.message
    assert err.value.message.endswith("\n    starting\n    Unrecognized VM option 'NoSuchFlag'")


def test_a_service_still_running_and_silent_ran_out_of_time():
    port = _closed_port()
    with pytest.raises(LabError) as err:
        wait_for_port("127.0.0.1", port, 1.0, "svc", None, alive=lambda: True)
    assert f"127.0.0.1:{port} did not answer within 1s" in err.value.message
