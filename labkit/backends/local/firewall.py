"""Isolation on the local backend, with nftables when the lab runs as root.

Without root, the lab's own network segment still drops an isolated node's election adverts and
client traffic, but direct connections between node addresses (Apache → app server, replication)
cannot be cut: `labkit fail --mode isolate` says so plainly.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from labkit.errors import LabError


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("nft") is not None


def _table(lab: str, prefix: str) -> str:
    """The lab's own nftables table. The kernel's tables are one per machine, and two labs of
    the same name can run from two LABKIT_HOMEs (every test session's lab is "pytest"): the
    name carries the lab's /24 as well, which no other running lab holds, so one lab's `down`
    never deletes another's isolation."""
    return "labkit_" + "".join(c if c.isalnum() else "_" for c in f"{lab}_{prefix}")


def isolate(lab: str, prefix: str, address: str) -> None:
    """Drop every packet to the node's address from anything else, and from it to the lab."""
    table = _table(lab, prefix)
    tag = f'comment "isolate {address}"'
    script = f"""
table ip {table} {{
}}
add chain ip {table} input {{ type filter hook input priority -10; policy accept; }}
add rule ip {table} input ip daddr {address} ip saddr != {address} counter drop {tag}
add rule ip {table} input ip saddr {address} ip daddr != {address} ip daddr {prefix}.0/24 \
    counter drop {tag}
"""
    _nft(script)


def heal(lab: str, prefix: str, address: str) -> None:
    """Remove the rules that isolate this address (other isolated nodes stay isolated)."""
    table = _table(lab, prefix)
    out = subprocess.run(["nft", "-a", "list", "chain", "ip", table, "input"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return
    for line in out.stdout.splitlines():
        if f'"isolate {address}"' in line and "# handle" in line:
            handle = line.rsplit("# handle", 1)[1].strip()
            subprocess.run(["nft", "delete", "rule", "ip", table, "input", "handle", handle],
                           capture_output=True)


def clear(lab: str, prefix: str) -> None:
    if available():
        subprocess.run(["nft", "delete", "table", "ip", _table(lab, prefix)],
                       capture_output=True)


def _nft(script: str) -> None:
    res = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if res.returncode != 0:
        raise LabError(f"nftables refused the isolation rules: {res.stderr.strip()}")
