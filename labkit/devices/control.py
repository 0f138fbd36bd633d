"""Talk to the running fleet: fail and restore devices, set latency, read sessions and counters.

The fleet may run as several shard processes; each has its own control socket and these
functions ask every shard and merge the answers.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from labkit.devices import control_socket, device_index, shards
from labkit.errors import LabError
from labkit.layout import Layout


def _ask(layout: Layout, shard: int, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    path = control_socket(layout, shard)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        raise LabError(f"the device fleet does not answer ({path}: {exc})",
                       "is the lab up with devices? see `labkit status`") from None
    answer = json.loads(buf)
    if "error" in answer:
        raise LabError(f"the fleet refused {request['op']}: {answer['error']}")
    return answer


def ask(layout: Layout, request: dict[str, Any], timeout: float = 5.0) -> list[dict[str, Any]]:
    """Send a request to every shard (only those holding the named devices, if any)."""
    count = layout.topology.devices.count
    if not count:
        raise LabError("this lab has no devices", "set devices: {count: 100} in the topology")
    n = shards(count)
    wanted = range(n)
    if request.get("devices") is not None:
        for name in request["devices"]:
            if device_index(name) > count:
                raise LabError(f"no device {name}: the fleet has dev0001..{count:04d}")
        wanted = sorted({device_index(name) % n for name in request["devices"]})
    return [_ask(layout, s, request, timeout) for s in wanted]


def state(layout: Layout, devices: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per device: up, open sessions (peer addresses), RPC counters, commits, latency."""
    out: dict[str, dict[str, Any]] = {}
    for answer in ask(layout, {"op": "state", "devices": devices}):
        out.update(answer["devices"])
    return dict(sorted(out.items()))


def fail(layout: Layout, devices: list[str], seconds: float | None = None) -> list[str]:
    """Fail devices (sessions drop, the port closes); they come back after `seconds` if given."""
    if seconds is not None and seconds <= 0:
        raise LabError("--for must be a positive number of seconds")
    return sorted(n for a in ask(layout, {"op": "fail", "devices": devices, "seconds": seconds})
                  for n in a["failed"])


def restore(layout: Layout, devices: list[str] | None = None) -> list[str]:
    return sorted(n for a in ask(layout, {"op": "restore", "devices": devices})
                  for n in a["restored"])


def set_latency(layout: Layout, ms: float, devices: list[str] | None = None) -> int:
    if not 0 <= ms <= 60000:
        raise LabError("latency must be between 0 and 60000 ms")
    return sum(a["devices"] for a in ask(layout, {"op": "latency", "ms": ms, "devices": devices}))
