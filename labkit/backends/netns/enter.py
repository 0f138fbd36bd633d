"""Run a command inside a rootless netns lab: `python enter.py HOLDER_PID COMMAND...`.

A rootless lab's namespaces belong to a user namespace its holder made (labkit.backends.netns.
holder); only a process inside that user namespace may touch them (`ip netns exec`, nft, iptables).
This joins the holder's user, network and mount namespaces (in that order: the user namespace
grants the capabilities the other two ask for), keeps the caller's working directory, and makes
every capability it now has *ambient*, so they survive the exec of a command run by an ordinary
user, as `unshare --keep-caps` gives them to the holder. util-linux's `nsenter` cannot keep them
(no `--keep-caps` before 2.39), hence these few system calls.

Standard library only, and run by path with `-I`: the CLI calls it for every command it runs in a
lab, so it must not import labkit (or the venv) first.
"""

from __future__ import annotations

import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def join(pid: int) -> None:
    """Join the user, network and mount namespaces of process `pid` (the lab's holder)."""
    cwd = os.getcwd()
    for kind, flag in (("user", CLONE_NEWUSER), ("net", CLONE_NEWNET), ("mnt", CLONE_NEWNS)):
        fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(fd, flag), f"join the lab's {kind} namespace (holder {pid})")
        finally:
            os.close(fd)
    os.chdir(cwd)  # joining a mount namespace moves the caller to its root


def keep_capabilities() -> None:
    """Make every permitted capability inheritable and ambient: an exec by a non-root user then
    keeps them (they are capabilities over the lab's namespaces only, not the machine)."""
    header, data = _Header(CAPABILITY_VERSION_3, 0), (_Data * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    for word in data:
        word.inheritable = word.permitted
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last = int(fh.read())
    for cap in range(last + 1):
        if data[cap // 32].permitted & (1 << (cap % 32)):
            _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0),
                   f"raise ambient capability {cap}")


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        sys.exit("usage: enter.py HOLDER_PID COMMAND [ARG...]")
    try:
        join(int(argv[0]))
        keep_capabilities()
    except OSError as exc:
        sys.exit(f"labkit: cannot enter the lab's namespaces: {exc} (is the lab up? "
                 "`labkit status` says)")
    path = os.environ.get("PATH", "").split(os.pathsep)  # nft, iptables, sysctl live there
    os.environ["PATH"] = os.pathsep.join([*path, *(d for d in ("/usr/sbin", "/sbin")
                                                   if d not in path)])
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
