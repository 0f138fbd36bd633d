"""Start one Cassandra node under its supervisor: `python -m labkit.cassandra.launch ...`.

Two things happen before the JVM replaces this process (same pid, so the supervisor's signals and
the lab's faults reach Cassandra itself):

* On a node's very first start, it waits for the ring's earlier nodes to answer, so nodes join
  one at a time as Cassandra wants. A restart (data already there) never waits: its peers may
  be the ones that are down.
* Cassandra locks all its memory with mlockall() when it may; as root that pins the whole heap
  and JDK image (~450 MiB). Dropping CAP_IPC_LOCK and the memlock limit keeps the lab small;
  Cassandra logs one warning and runs on.
* As root, it becomes the `cassandra` system user (a server never runs as root), as MariaDB
  becomes `mysql` and PostgreSQL `postgres`.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import socket
import sys
from pathlib import Path

from labkit import wait
from labkit.cassandra import config
from labkit.layout import Layout, node_program_args

PR_CAPBSET_DROP, CAP_IPC_LOCK = 24, 14
FIRST_START_WAIT = 120.0


def wait_for_earlier_nodes(layout: Layout, node: str) -> None:
    ring = config.ring_nodes(layout)
    for peer in ring[:ring.index(node)]:
        addr = (layout.address(peer), layout.ports.cassandra_cql)
        print(f"first start: waiting for {peer} at {addr[0]}:{addr[1]} to join first", flush=True)
        try:
            wait.retry(lambda a=addr: socket.create_connection(a, timeout=1).close(),
                       FIRST_START_WAIT, errors=(OSError,))
        except OSError:
            print(f"{peer} did not answer within {FIRST_START_WAIT:.0f}s; starting anyway",
                  flush=True)


def no_memory_locking() -> None:
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]))
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0)


def drop_root(base: Path) -> None:
    """As root, become the `cassandra` user before the JVM starts (same pid: the supervisor's
    signals still reach Cassandra). Its files, triggers/ and logs/ included, were handed to that
    user by `configure`: a restart after a crash chowns nothing."""
    account = config.server_account()
    if account is None:
        return
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(HOME=str(base), USER=account.pw_name, LOGNAME=account.pw_name)


def main() -> None:
    layout, node = node_program_args(__doc__)
    base = config.home(layout, node)
    if not (base / "data" / "system").exists():
        wait_for_earlier_nodes(layout, node)
    command = json.loads((base / "java.json").read_text())
    no_memory_locking()
    os.environ["MALLOC_ARENA_MAX"] = "2"  # few malloc arenas: Cassandra's own launcher sets 4
    drop_root(base)
    sys.stdout.flush()
    os.chdir(base)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
