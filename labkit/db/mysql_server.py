"""MariaDB (the MySQL server Debian and Ubuntu ship) on each `mysql` node, plus its watcher.

Both instances start read-only; the watcher (labkit.db.mysql_watch) makes one active and the
other its semi-synchronous GTID replica. Users and schema are created on each instance at start
from an init file with binary logging off, so the two GTID histories hold only application data.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from labkit import atomic, templating, wait
from labkit.component import (
    Component,
    NodeContext,
    Program,
    hand_over,
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
  written_by VARCHAR(16) NOT NULL, created DOUBLE NOT NULL,
  idem_key VARCHAR(64) NULL, UNIQUE KEY idem_key (idem_key)) ENGINE=InnoDB;
ALTER TABLE labkit.notes ADD COLUMN IF NOT EXISTS idem_key VARCHAR(64) NULL,
  ADD UNIQUE INDEX IF NOT EXISTS idem_key (idem_key);
CREATE TABLE IF NOT EXISTS labkit.writes (
  id BIGINT AUTO_INCREMENT PRIMARY KEY, client VARCHAR(64) NOT NULL, seq BIGINT NOT NULL,
  created DOUBLE NOT NULL, UNIQUE KEY (client, seq)) ENGINE=InnoDB;
"""


def mariadb_binary() -> str:
    return server_binary(("mariadbd", "mysqld"), "MariaDB", "mariadb-server")


def server_account() -> pwd.struct_passwd | None:
    """The user MariaDB runs as when the lab runs as root: `mysql`, which Debian's and Ubuntu's
    mariadb-server create (a server never runs as root). None when the lab is not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("mysql")
    except KeyError:
        raise LabError("the lab runs as root but there is no `mysql` user to run MariaDB as",
                       "install Debian's mariadb-server package (it creates the user)") from None


def own(base: Path) -> None:
    """Everything of the instance belongs to its server's user: the data, the socket and pid
    directory, the temporary directory and the init file (read after the server dropped root;
    still 0600). Labs started before MariaDB stopped running as root are handed over here."""
    # the watcher's dumps of diverged data stay root's
    hand_over(base, server_account(), keep=lambda p: p.name.startswith("diverged-"))


class MariaDB(Component):
    role = "mysql"
    programs = ("mysql", "mysqlwatch")

    def configure(self, ctx: NodeContext) -> list[Program]:
        base = ctx.layout.paths.service(ctx.node, "mysql")
        data = base / "data"
        (base / "run").mkdir(parents=True, exist_ok=True)
        (base / "tmp").mkdir(exist_ok=True)
        init = base / "init.sql"
        atomic.write_text(init, self.init_sql(ctx.layout), mode=0o600)  # it holds passwords
        conf = self.config_files(ctx.layout, ctx.node)["my.cnf"]
        conf.write_text(self.config_text(ctx, base))
        own(base)  # before mariadb-install-db too: it writes the tmp directory as `mysql`
        if not (data / "mysql").exists():
            self.initialise(data, base)
        return [
            Program("mysql", [mariadb_binary(), f"--defaults-file={conf}"], priority=40,
                    stopwaitsecs=30, startsecs=2),
            ctx.python_program("mysqlwatch", "labkit.db.mysql_watch", priority=45,
                               stopwaitsecs=3),
        ]

    def config_files(self, layout: Layout, node: str) -> dict[str, Path]:
        return {"my.cnf": layout.paths.service(node, "mysql") / "my.cnf"}

    @staticmethod
    def config_text(ctx: NodeContext, base: Path) -> str:
        """my.cnf from templates/my.cnf.j2."""
        lay = ctx.layout
        return templating.render(
            __file__, "my.cnf.j2", node=ctx.node, as_root=os.geteuid() == 0, base=base,
            address=ctx.address, port=lay.ports.mysql,
            server_id=[n.name for n in lay.nodes].index(ctx.node) + 1)

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
        if server_account():
            cmd.append("--user=mysql")
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
