"""Give each lab on this machine its own /24 of loopback addresses.

Linux answers on every 127.x.y.z address without configuration, so a lab only has to pick a /24
no other lab uses: node1 = .11, node2 = .12, ..., the VIP = .100. Two users of one JupyterHub
machine get different /24s because each claim is a file in a machine-wide directory, and a /24
where anything already listens is never taken.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from labkit.errors import LabError
from labkit.layout import RunDir

CLAIMS = Path(os.environ.get("LABKIT_NET_CLAIMS", Path(tempfile.gettempdir()) / "labkit-nets"))
STALE_AFTER = 600  # a claim whose lab never came up is free again after 10 minutes


def listening_prefixes() -> set[str]:
    """Every 127.x.y /24 on which some TCP socket listens or some UDP socket is bound."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/udp"):
        with contextlib.suppress(FileNotFoundError), open(table) as fh:
            next(fh, None)
            for line in fh:
                cols = line.split()
                local, state = cols[1], cols[3]
                if table.endswith("tcp") and state != "0A":  # 0A = LISTEN
                    continue
                addr = bytes.fromhex(local.split(":")[0])[::-1]
                if addr[0] == 127:
                    found.add(f"127.{addr[1]}.{addr[2]}")
    return found


def claim(rundir: Path) -> str:
    """Claim a free /24 for the lab at `rundir`; returns its prefix such as '127.0.7'."""
    CLAIMS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        os.chmod(CLAIMS, 0o1777)  # shared by every user of the machine, like /tmp
    busy = listening_prefixes()
    for second in range(0, 16):
        for third in range(1, 255):
            prefix = f"127.{second}.{third}"
            if prefix == "127.0.0" or prefix in busy:
                continue
            path = CLAIMS / prefix
            _drop_if_stale(path)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(rundir))
            return prefix
    raise LabError("no free /24 left in 127.0.0.0/12 for a new lab",
                   f"remove stale claims in {CLAIMS} or stop other labs")


def claim_first(rundir: Path, candidates: list[str], busy: set[str]) -> str | None:
    """Claim the first candidate /24 that is not busy and no other lab holds (the compose and
    netns backends' private ranges); None when every one is taken."""
    for prefix in candidates:
        if prefix in busy:
            continue
        try:
            reclaim(prefix, rundir)
        except LabError:
            continue
        return prefix
    return None


def owns(prefix: str, rundir: Path) -> bool:
    try:
        return (CLAIMS / prefix).read_text().strip() == str(rundir)
    except OSError:
        return False


def reclaim(prefix: str, rundir: Path) -> None:
    """Re-take the lab's own /24 (after `down`, or a reboot) or fail if another lab has it."""
    path = CLAIMS / prefix
    CLAIMS.mkdir(parents=True, exist_ok=True)
    if owns(prefix, rundir):
        path.touch()
        return
    _drop_if_stale(path)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise LabError(f"the lab's addresses {prefix}.0/24 are now claimed by another lab",
                       f"run `labkit down` and start again, or remove {path} if it is stale"
                       ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(str(rundir))


def release(prefix: str, rundir: Path) -> None:
    if owns(prefix, rundir):
        (CLAIMS / prefix).unlink(missing_ok=True)


def _drop_if_stale(path: Path) -> None:
    """A claim is stale when its lab's run directory is gone or it never started in time."""
    try:
        owner = Path(path.read_text().strip())
        age = time.time() - path.stat().st_mtime
    except OSError:
        return
    try:
        alive = RunDir(owner).layout.exists()
    except PermissionError:
        alive = True  # another user's lab: leave it alone
    if not alive and age > STALE_AFTER or not owner.exists():
        with contextlib.suppress(OSError):
            path.unlink()
