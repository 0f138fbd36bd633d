"""Re-seed a standby whose history diverged from the active's, with no human step.

A former active can hold transactions the new active never received: commits that were written
to its binary log and were still waiting for the standby's acknowledgement when it crashed or
froze (semi-sync AFTER_SYNC writes the binlog first). No client saw them succeed, so dropping
them loses nothing acknowledged — but GTID replication refuses to start from a diverged position
(error 1236). The cure a DBA would apply, done by the watcher: throw the local copy of the data
away and load a consistent dump of the active (`mariadb-dump --gtid`), which also sets the GTID
position to replicate from. "No client saw them succeed" holds only while every rule of the
watchers holds, so the local copy is not destroyed unseen: it is dumped first, into the node's
MySQL directory (`RunDir.mysql_diverged`), and the event names that file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from labkit import atomic
from labkit.layout import Layout

DATABASE = "labkit"
#: replication errors that mean "your history is not a prefix of the master's"
DIVERGED = {1236, 1950}


def client(name: str) -> str:
    """The MariaDB client tool `name` (mariadb-dump / mariadb), or its older mysql* name."""
    old = {"mariadb-dump": "mysqldump", "mariadb": "mysql"}[name]
    path = shutil.which(name) or shutil.which(old)
    if path is None:
        raise RuntimeError(f"{name} is not installed (package mariadb-client)")
    return path


def reseed(layout: Layout, node: str, source: str, keep: Path) -> str:
    """Replace `node`'s application data with a dump of `source`; returns the GTID it starts from.

    `node`'s own data is dumped to `keep` first (0600: it holds the lab's rows). The caller has
    stopped replication on `node` and made it read-only. The load runs with binary logging off,
    so the copied rows keep the source's GTIDs and are not logged twice.
    """
    secret = layout.secrets["mysql_root"]
    with tempfile.TemporaryDirectory(prefix="labkit-reseed-") as tmp:
        creds = Path(tmp) / "client.cnf"  # keeps the password off the command line
        atomic.write_text(creds, f"[client]\nuser=root\npassword={secret}\n", mode=0o600)
        port = str(layout.ports.mysql)
        own = _dump(creds, layout.address(node), port, node)
        fd = os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(own)
        dump = _dump(creds, layout.address(source), port, source)
        gtid = _dump_gtid(dump)
        script = (f"SET SESSION sql_log_bin = 0;\nRESET MASTER;\n"
                  f"DROP DATABASE IF EXISTS {DATABASE};\n{dump}\n"
                  f"SET GLOBAL gtid_slave_pos = '{gtid}';\n")
        load = subprocess.run(
            [client("mariadb"), f"--defaults-extra-file={creds}",
             f"--host={layout.address(node)}", f"--port={port}"],
            input=script, capture_output=True, text=True, timeout=300, check=False)
        if load.returncode != 0:
            raise RuntimeError(f"loading the dump into {node} failed: {load.stderr[-300:]}")
    return gtid


def _dump(creds: Path, host: str, port: str, node: str) -> str:
    """A consistent dump of the lab's database on one instance, with its GTID position."""
    dump = subprocess.run(
        [client("mariadb-dump"), f"--defaults-extra-file={creds}", f"--host={host}",
         f"--port={port}", "--single-transaction", "--gtid", "--master-data=2",
         "--databases", DATABASE],
        capture_output=True, text=True, timeout=300, check=False)
    if dump.returncode != 0:
        raise RuntimeError(f"mariadb-dump from {node} failed: {dump.stderr[-300:]}")
    return dump.stdout


def _dump_gtid(dump: str) -> str:
    """The GTID position a `--gtid --master-data=2` dump was taken at (a comment near its end)."""
    for line in reversed(dump.splitlines()):
        if "SET GLOBAL gtid_slave_pos" in line and "'" in line:
            return line.split("'")[1]
    raise RuntimeError("the dump names no GTID position (mariadb-dump without --gtid support?)")
