"""Managed devices: the NETCONF fleet the cluster mediates, and the facts both sides share.

The fleet (one simulator process under the lab's own supervisor) serves every device on the lab's
fleet address, one SSH port per device from `Ports.netconf` up. The SSH host key and the device
login are generated per lab: the key lives in the run directory, the password in the lab's
secrets; nodes verify the key, so a node never talks to a stranger on that address.
"""

from __future__ import annotations

from pathlib import Path

import asyncssh

from labkit import atomic
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.names import DEVICE_NAME, DEVICE_NAME_HINT

USER = "labkit"
NAME = DEVICE_NAME  #: the one device-name rule (labkit.names)
SHARD_SIZE = 500  #: devices per fleet process


def device_name(index: int) -> str:
    """Device number `index` (1-based) is `dev0001`..."""
    return f"dev{index:04d}"


def device_index(name: str) -> int:
    m = NAME.fullmatch(name)  # fullmatch: "$" would let "dev0001\n" in
    if not m or int(m.group(1)) < 1:
        raise LabError(f"bad device name {name!r}", DEVICE_NAME_HINT)
    return int(m.group(1))


def device_names(count: int) -> list[str]:
    return [device_name(i) for i in range(1, count + 1)]


def device_port(layout: Layout, name: str) -> int:
    return layout.ports.netconf + device_index(name) - 1


def fleet_dir(layout: Layout) -> Path:
    return layout.paths.fleet


def shards(count: int) -> int:
    """How many fleet processes serve `count` devices: SSH handshakes are CPU work, and one
    asyncio process uses one core."""
    return 1 if count <= SHARD_SIZE else -(-count // SHARD_SIZE)


def control_socket(layout: Layout, shard: int) -> Path:
    return fleet_dir(layout) / f"control-{shard}.sock"


def host_key_path(layout: Layout) -> Path:
    return fleet_dir(layout) / "ssh_host_ed25519_key"


def ensure_host_key(layout: Layout) -> Path:
    """The fleet's SSH host key, generated once per lab (never committed, never shared)."""
    path = host_key_path(layout)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = asyncssh.generate_private_key("ssh-ed25519")
        atomic.write_bytes(path, key.export_private_key(), mode=0o600)  # private from byte one
        key.write_public_key(str(path.with_suffix(".pub")))
    return path


def public_host_key(layout: Layout) -> asyncssh.SSHKey:
    """What a node checks the device's host key against."""
    try:
        return asyncssh.read_public_key(str(host_key_path(layout).with_suffix(".pub")))
    except FileNotFoundError:
        raise LabError("the device fleet's host key does not exist yet",
                       "start the lab with devices (`labkit up`)") from None


def password(layout: Layout) -> str:
    try:
        return layout.secrets["netconf"]
    except KeyError:
        raise LabError(f"lab {layout.lab!r} was set up before it had devices (no NETCONF login)",
                       "`labkit down --purge`, then `labkit up`") from None
