"""MariaDB (the MySQL server Debian and Ubuntu ship) on each `mysql` node, plus its watcher.

Both instances start read-only; the watcher (labkit.db.mysql_watch) makes one active and the
other its semi-synchronous GTID replica. Users and schema are created on each instance at start
from an init file with binary logging off, so the two GTID histories hold only application data.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from labkit import wait
from labkit.component import (
    Component,
    NodeContext,
    Program,
    server_binary,
    start_failure,
    wait_for_port,
)
from labkit.db import mysql, witness
from labkit.errors import LabError
from labkit.layout import Layout

SCHEMA = """
CREATE DATABASE IF NOT EXISTS labkit;
CREATE TABLE IF NOT EXISTS labkit.sessions (
  id CHAR(32) PRIMARY KEY, user VARCHAR(64) NOT NULL, created_on VARCHAR(16) NOT NULL,
  hits INT NOT NULL DEFAULT 0, created DOUBLE NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS labkit.notes (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, text VARCHAR(1000) NOT NULL,
  written_by VARCHAR(16) NOT NULL, created DOUBLE NOT NULL) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS labkit.writes (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, client VARCHAR(64) NOT NULL, seq BIGINT NOT NULL,
  created DOUBLE NOT NULL, UNIQUE KEY (client, seq)) ENGINE=InnoDB;
"""


def mariadb_binary() -> str:
    return server_binary(("mariadbd", "mysqld"), "MariaDB", "mariadb-server")


class MariaDB(Component):
    role = "mysql"
    programs = ("mysql", "mysqlwatch")

    def configure(self, ctx: NodeContext) -> list[Program]:
        base = ctx.layout.paths.service(ctx.node, "mysql")
        data, run = base / "data", base / "run"
        run.mkdir(parents=True, exist_ok=True)
        (base / "tmp").mkdir(exist_ok=True)
        lay = ctx.layout
        index = [n.name for n in lay.nodes].index(ctx.node) + 1
        root_user = "user=root\n" if os.geteuid() == 0 else ""
        init = base / "init.sql"
        init.write_text(self.init_sql(lay))
        os.chmod(init, 0o600)
        conf = base / "my.cnf"
        conf.write_text(f"""# Rendered by labkit for {ctx.node}.
# [mysqld]: every MariaDB reads it; [mariadbd] is only read from 10.11 (Ubuntu 22.04 has 10.6).
[mysqld]
{root_user}datadir={data}
socket={run}/mysqld.sock
tmpdir={base / "tmp"}
pid-file={run}/mysqld.pid
bind-address={ctx.address}
port={lay.ports.mysql}
server-id={index}
log-bin={data}/binlog
binlog-format=ROW
log-slave-updates=ON
gtid-strict-mode=ON
sync-binlog=1
innodb-flush-log-at-trx-commit=1
# semi-sync: switched on by the watcher, on the active only; never times out by itself
rpl-semi-sync-master-enabled=OFF
rpl-semi-sync-slave-enabled=ON
rpl-semi-sync-master-timeout=3600000
rpl-semi-sync-master-wait-point=AFTER_SYNC
# a promoting standby's STOP SLAVE tries to reach the dead active to end its dump thread: be brief
loose-rpl-semi-sync-slave-kill-conn-timeout=1
slave-net-timeout=4
read-only=ON
skip-slave-start=ON
skip-name-resolve=ON
init-file={init}
innodb-buffer-pool-size=32M
innodb-log-buffer-size=4M
key-buffer-size=1M
performance-schema=OFF
max-connections=80
table-open-cache=200
character-set-server=utf8mb4
""")
        if not (data / "mysql").exists():
            self.initialise(data, base)
        return [
            Program("mysql", [mariadb_binary(), f"--defaults-file={conf}"], priority=40,
                    stopwaitsecs=30, startsecs=2),
            ctx.python_program("mysqlwatch", "labkit.db.mysql_watch", priority=45,
                               stopwaitsecs=3),
        ]

    @staticmethod
    def init_sql(lay: Layout) -> str:
        s = lay.secrets
        # mariadb-install-db also makes password-less root@127.0.0.1, ::1 and @<hostname>: they
        # would shadow root@'%' for clients on loopback, so they go.
        drops = "".join(f"DROP USER IF EXISTS 'root'@'{h}';\n"
                        for h in ("127.0.0.1", "::1", socket.gethostname()))
        return f"""SET sql_log_bin = 0;
{drops}ALTER USER 'root'@'localhost' IDENTIFIED BY '{s["mysql_root"]}';
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{s["mysql_root"]}';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'labkit'@'%' IDENTIFIED BY '{s["mysql_app"]}';
GRANT ALL ON labkit.* TO 'labkit'@'%';
CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY '{s["mysql_repl"]}';
GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN, BINLOG MONITOR ON *.* TO 'repl'@'%';
{SCHEMA}"""

    @staticmethod
    def initialise(data: object, base: object) -> None:
        cmd = [shutil.which("mariadb-install-db") or "mysql_install_db", "--no-defaults",
               f"--datadir={data}", "--auth-root-authentication-method=normal", "--skip-test-db"]
        if os.geteuid() == 0:
            cmd.append("--user=root")
        tmp = Path(str(base)) / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "TMPDIR": str(tmp)})
        if res.returncode != 0:
            raise LabError(f"mariadb-install-db failed for {data}:\n{res.stdout[-800:]}"
                           f"{res.stderr[-800:]}", f"remove {base} and run `labkit up` again")

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        wait_for_port(ctx.address, ctx.layout.ports.mysql, timeout, f"MariaDB on {ctx.node}",
                      ctx.log("mysql"), alive=ctx.alive("mysql"))

    def after_up(self, layout: Layout, ready_nodes: list[str]) -> None:
        """Return once the pair has an active instance (and its standby replicates)."""
        def settled() -> bool:
            st = mysql.tier_status(layout)
            standby_ok = all(s.get("io_running") == "Yes" for n, s in st["instances"].items()
                             if s["role"] == "standby")
            if isinstance(st["active"], str) and standby_ok:
                return True
            # or nothing to wait for here: the status says who is missing
            return self.waits_for_lost_active(layout, st, ready_nodes)

        if not wait.until(settled, 60, every=0.3):
            raise start_failure("the MySQL pair", "no active instance with a replicating standby "
                                "within 60s", layout.paths.log(ready_nodes[0], "mysqlwatch"))

    @staticmethod
    def waits_for_lost_active(layout: Layout, st: dict[str, Any], ready_nodes: list[str]) -> bool:
        """A node came back while the last active is still down: it rightly stays a waiting
        standby (it lacks that active's commits) until the active returns."""
        term = witness.read(layout.rundir, mysql.TIER)
        return (st["active"] is None and term is not None and term.active not in ready_nodes
                and st["instances"].get(term.active, {}).get("role") == "down")

    def status(self, layout: Layout, live_nodes: list[str]) -> dict[str, Any] | None:
        return {"mysql": mysql.tier_status(layout)}
