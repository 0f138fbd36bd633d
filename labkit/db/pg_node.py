"""Bring one node's PostgreSQL data directory into the role the witness gives it, then run it.

Run as `python -m labkit.db.pg_node --lab LAB --node NODE` (the node supervisor's `postgres`
program). Before exec'ing the server it makes sure that:

* a brand-new first node gets `initdb` and becomes the primary of epoch 1;
* a brand-new other node is cloned from the primary with `pg_basebackup -R` (a hot standby);
* a former primary whose peer has since been promoted is rewound with `pg_rewind -R` onto the
  new timeline (or, if that fails, cloned afresh) and comes back as its standby.

initdb's postgresql.conf gets labkit's shared settings (templates/postgresql.conf.j2) and its
pg_hba.conf is replaced (templates/pg_hba.conf.j2); a clone copies both from the primary. What
differs per node (listen_addresses, port, ...) is on the server's command line.

PostgreSQL refuses to run as root: when the lab runs as root the server and its tools run as the
`postgres` user, while this launcher (which reads the lab's secrets) stays root until the exec.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from labkit import atomic, events, templating
from labkit.component import hand_over
from labkit.db import witness
from labkit.db.postgres import TIER, bin_dir, nodes
from labkit.layout import Layout, node_program_args


class PgNode:
    def __init__(self, layout: Layout, node: str) -> None:
        self.layout = layout
        self.node = node
        self.peer = next(n for n in nodes(layout) if n != node)
        self.base = layout.paths.service(node, "postgres")
        self.data = layout.paths.postgres_data(node)
        self.run_dir = self.base / "run"
        self.bin = Path(bin_dir())
        self.account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self.said: str | None = None

    # -- helpers ------------------------------------------------------------------------------
    def tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self.account:
            kwargs = {"user": self.account.pw_uid, "group": self.account.pw_gid}
        env = {**os.environ, "PGPASSWORD": self.layout.secrets["postgres"]}
        res = subprocess.run([str(self.bin / name), *args], capture_output=True, text=True,
                             env=env, timeout=600, **kwargs)  # type: ignore[arg-type]
        if check and res.returncode != 0:
            raise RuntimeError(f"{name} failed: {res.stderr.strip()[-600:]}")
        return res

    def own(self, path: Path) -> None:
        hand_over(path, self.account)

    def source(self, node: str, database: str = "postgres") -> str:
        return (f"host={self.layout.address(node)} port={self.layout.ports.postgres} "
                f"user=postgres dbname={database} connect_timeout=2")

    def say(self, message: str) -> None:
        print(message, flush=True)
        events.emit(self.layout.events_path, "postgres", node=self.node, tier=TIER,
                    message=message)

    def say_once(self, message: str) -> None:
        """`say`, but not again while the launcher loops on the same reason."""
        if message != self.said:
            self.said = message
            self.say(message)

    def peer_answers(self) -> bool:
        return self.tool("pg_isready", "-h", self.layout.address(self.peer), "-p",
                         str(self.layout.ports.postgres), "-t", "1", check=False).returncode == 0

    # -- roles --------------------------------------------------------------------------------
    def check_reachable(self) -> None:
        """As root, the server runs as `postgres`: every folder above its data must let it in."""
        if not self.account:
            return
        for parent in self.base.parents:
            if parent.exists() and not parent.stat().st_mode & 0o001:
                raise SystemExit(f"PostgreSQL runs as user postgres, which cannot enter {parent}"
                                 f" (mode {oct(parent.stat().st_mode & 0o777)}): set LABKIT_HOME"
                                 " to a folder others may enter, e.g. /var/lib/labkit")

    def prepare(self) -> None:
        self.check_reachable()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.own(self.base)
        while True:
            try:
                term = witness.read(self.layout.rundir, TIER)
            except witness.WitnessCorrupt as exc:
                self.say_once(f"{self.node} waits: {exc.message}")  # no role is safe to assume
                time.sleep(2)
                continue
            fresh = not (self.data / "PG_VERSION").exists()
            if fresh and term is None and self.node == nodes(self.layout)[0]:
                self.initdb()
                # alone until a standby has streamed everything (the primary's watcher clears it)
                witness.claim(self.layout.rundir, TIER, self.node, 0, alone=True)
                self.say(f"{self.node}: new PostgreSQL primary (epoch 1)")
                return
            if term is None or term.active == self.node:
                if not fresh:
                    return
                time.sleep(1)  # the witness names us but we have no data: wait for the peer
                continue
            # the peer is the primary: we must be its standby
            if not self.peer_answers():
                print(f"waiting for {self.peer} (the primary) to answer", flush=True)
                time.sleep(1)
                continue
            if fresh or self.last_rejoin_failed():
                self.clone()
            elif not (self.data / "standby.signal").exists():
                self.rewind()
            return

    @property
    def rejoin_marker(self) -> Path:
        """Present from a rewind or clone until the watcher sees the standby streaming."""
        return self.layout.paths.postgres_rejoining(self.node)

    def last_rejoin_failed(self) -> bool:
        try:
            age = time.time() - self.rejoin_marker.stat().st_mtime
        except FileNotFoundError:
            return False
        if age < 20:
            return False
        self.say(f"{self.node}: the last rejoin never streamed; cloning afresh")
        return True

    def initdb(self) -> None:
        pwfile = self.base / "pw"
        atomic.write_text(pwfile, self.layout.secrets["postgres"], mode=0o600)
        self.own(pwfile)
        self.tool("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                  "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                  f"--pwfile={pwfile}")
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as fh:
            fh.write(templating.render(__file__, "postgresql.conf.j2"))
        # on compose, peers connect from a bridge address of the lab's network
        (self.data / "pg_hba.conf").write_text(templating.render(
            __file__, "pg_hba.conf.j2", lab_net=f"{self.layout.prefix}.0/24"))
        self.own(self.data)

    def clone(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)
        self.rejoin_marker.touch()
        self.tool("pg_basebackup", "-d", self.source(self.peer), "-D", str(self.data),
                  "-X", "stream", "-R", "-c", "fast")
        self.say(f"{self.node}: cloned from {self.peer} with pg_basebackup; starts as standby")

    def rewind(self) -> None:
        self.checkpoint_peer()
        self.rejoin_marker.touch()
        res = self.tool("pg_rewind", "-D", str(self.data), "-R",
                        f"--source-server={self.source(self.peer)}", check=False)
        if res.returncode == 0:
            self.say(f"{self.node}: former primary rewound onto {self.peer}'s timeline "
                     "with pg_rewind; rejoins as standby")
            return
        aside = self.base / f"data.unrewindable-{int(time.time())}"
        self.data.rename(aside)
        self.say(f"{self.node}: pg_rewind failed ({res.stderr.strip()[-200:]}); kept the old "
                 f"data in {aside.name} and cloned afresh")
        self.clone()

    def checkpoint_peer(self) -> None:
        """A just-promoted primary writes its new timeline to pg_control only at a checkpoint."""
        self.tool("psql", "-d", self.source(self.peer), "-c", "CHECKPOINT", check=False)

    def exec_server(self) -> None:
        args = [str(self.bin / "postgres"), "-D", str(self.data),
                "-c", f"listen_addresses={self.layout.address(self.node)}",
                "-c", f"port={self.layout.ports.postgres}",
                "-c", f"unix_socket_directories={self.run_dir}",
                "-c", "unix_socket_permissions=0700",
                "-c", f"cluster_name={self.node}"]
        if self.account:
            os.setgroups([])
            os.setgid(self.account.pw_gid)
            os.setuid(self.account.pw_uid)
        os.execv(args[0], args)


def main() -> None:
    layout, node = node_program_args(__doc__)
    pg = PgNode(layout, node)
    pg.prepare()
    pg.exec_server()


if __name__ == "__main__":
    main()
