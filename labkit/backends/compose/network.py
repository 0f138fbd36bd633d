"""Give each compose lab its own /24 on a Docker bridge, claimed like the local backend's /24s.

The compose file's default is 172.31.250.0/24 (node1 = .11, VIP = .100, fleet = .200, JupyterLab
= .5); `LABKIT_SUBNET` picks another. Without it, a lab takes the first /24 counting down from
172.31.250 that no other lab has claimed (the same claim files as the local backend, in
labkit.backends.local.network) and no Docker network on this engine already uses, so two test
sessions on one machine never share a bridge.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from labkit.backends.local import network as claims
from labkit.errors import LabError

DEFAULT_SUBNET = "172.31.250"
JUPYTER_HOST = 5  #: the `lab` service (JupyterLab) is <prefix>.5
CANDIDATES = [f"172.31.{third}" for third in range(250, 199, -1)]


def requested() -> str | None:
    """The subnet LABKIT_SUBNET asks for, checked; None when it is not set."""
    value = os.environ.get("LABKIT_SUBNET", "").strip()
    if not value:
        return None
    try:
        net = ipaddress.ip_network(f"{value}.0/24")
    except ValueError:
        raise LabError(f"LABKIT_SUBNET={value!r} is not the first three octets of a /24",
                       f"write it like {DEFAULT_SUBNET}") from None
    if not net.is_private or net.is_loopback:
        raise LabError(f"LABKIT_SUBNET={value} is not a private range",
                       "use one of 10.x.y, 172.16-31.y or 192.168.y")
    return value


def used_by_docker(engine: Any) -> set[str]:
    """Every /24 prefix overlapping a subnet of an existing Docker network."""
    used: set[str] = set()
    for net in engine.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            subnet = cfg.get("Subnet", "")
            if ":" in subnet or not subnet:
                continue
            existing = ipaddress.ip_network(subnet, strict=False)
            used |= {c for c in CANDIDATES
                     if ipaddress.ip_network(f"{c}.0/24").overlaps(existing)}
    return used


def claim(rundir: Path, engine: Any) -> str:
    """Claim a /24 for the compose lab at `rundir` and return its prefix (e.g. '172.31.250')."""
    wanted = requested()
    if wanted:
        claims.reclaim(wanted, rundir)  # fails, naming the other lab, if it is taken
        return wanted
    prefix = claims.claim_first(rundir, CANDIDATES, used_by_docker(engine))
    if prefix:
        return prefix
    raise LabError("no free /24 left in 172.31.200-250 for a compose lab",
                   "stop another compose lab, or set LABKIT_SUBNET")


def keep_on_this_machine(prefix: str) -> None:
    """A blackhole route for the lab's /24, under the bridge's own route: while the bridge
    exists it carries the traffic; once `down` removed it, anything still aimed at the lab's
    addresses (a status poll, a notebook) fails at once instead of leaving by the default
    route. Only root can add it (and only Linux routes to a bridge from the host anyway)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return
    subprocess.run(["ip", "route", "add", "blackhole", f"{prefix}.0/24", "metric", "4242"],
                   capture_output=True)  # already there: fine
