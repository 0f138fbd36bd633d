"""The MySQL watcher on each `mysql` node: keeps its instance in the role the witness gives it.

Run as `python -m labkit.db.mysql_watch --lab LAB --node NODE` under the node's supervisor.

* Active (per the witness): make sure the instance is writable and replicates from nobody.
* Standby: make sure it replicates from the active by GTID (semi-synchronous, so a commit the
  client saw acknowledged is in this instance's relay log). When the active stops answering for
  `FAILOVER_AFTER` seconds, apply everything received, stop replicating, become writable, and
  record the new epoch in the witness.
* A standby that never caught up with the current active (it was down while the active took
  writes) must not promote: it waits, and says so, until the active returns.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import time
from typing import Any

import pymysql

from labkit import events
from labkit.db import witness
from labkit.db.mysql import TIER, connect, nodes
from labkit.layout import Layout

POLL = 0.5
FAILOVER_AFTER = 3.0  # seconds of silence from the active before the standby promotes


class MysqlWatcher:
    def __init__(self, layout: Layout, node: str) -> None:
        self.layout = layout
        self.node = node
        self.peer = next(n for n in nodes(layout) if n != node)
        self.state_path = layout.node_dir(node) / "mysqlwatch.json"
        self.synced_epoch = self._load().get("synced_epoch", 0)
        self.peer_silent_since: float | None = None
        self.said: str | None = None
        self.running = True

    # -- persistence and events ---------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save(self) -> None:
        self.state_path.write_text(json.dumps({"synced_epoch": self.synced_epoch}))

    def say(self, kind: str, message: str, **fields: Any) -> None:
        """Emit an event once per distinct message (the loop repeats every half second)."""
        if message != self.said:
            self.said = message
            events.emit(self.layout.events_path, kind, node=self.node, tier=TIER,
                        message=message, **fields)

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        while self.running:
            with contextlib.suppress(pymysql.MySQLError):  # our server is (re)starting
                self.step()
            time.sleep(POLL)

    def step(self) -> None:
        term = witness.read(self.layout.rundir, TIER)
        local = connect(self.layout, self.node, user="root", database=None, timeout=1)
        try:
            if term is None:
                if self.node == nodes(self.layout)[0]:
                    term = witness.claim(self.layout.rundir, TIER, self.node, 0)
                    if term:
                        self.say("mysql", f"{self.node} starts as the active MySQL (epoch 1)")
                return
            if term.active == self.node:
                self.be_active(local)
            else:
                self.be_standby(local, term)
        finally:
            local.close()

    def be_active(self, local: pymysql.connections.Connection) -> None:
        with local.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            if cur.fetchone():
                cur.execute("STOP SLAVE")
                cur.execute("RESET SLAVE ALL")
            cur.execute("SELECT @@read_only AS ro")
            if cur.fetchone()["ro"]:
                cur.execute("SET GLOBAL read_only = OFF")

    def be_standby(self, local: pymysql.connections.Connection, term: witness.Term) -> None:
        peer_address = self.layout.address(self.peer)
        with local.cursor() as cur:
            cur.execute("SELECT @@read_only AS ro")
            if not cur.fetchone()["ro"]:
                cur.execute("SET GLOBAL read_only = ON")  # fence: never two writers
                self.say("mysql", f"{self.node} steps down: {term.active} is active "
                                  f"(epoch {term.epoch})")
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone()
            if replica is None or replica["Master_Host"] != peer_address:
                self.start_replication(cur, peer_address)
                return
            if replica["Slave_IO_Running"] == "No" and replica["Slave_SQL_Running"] == "No" \
                    and not replica["Last_IO_Errno"] and not replica["Last_SQL_Errno"]:
                cur.execute("START SLAVE")  # configured before a restart (skip-slave-start)
            if replica["Slave_IO_Running"] == "Yes" and replica["Slave_SQL_Running"] == "Yes" \
                    and replica["Seconds_Behind_Master"] == 0:
                if self.synced_epoch != term.epoch:
                    self.synced_epoch = term.epoch
                    self._save()
                    self.say("mysql", f"{self.node} is a caught-up standby of {self.peer}")
            elif replica["Slave_SQL_Running"] == "No" and replica["Last_SQL_Errno"]:
                self.say("mysql_error", f"{self.node} replication stopped: "
                                        f"{replica['Last_SQL_Error']}")
        if self.peer_answers():
            self.peer_silent_since = None
            return
        now = time.monotonic()
        if self.peer_silent_since is None:
            self.peer_silent_since = now
            self.failure_seen = time.time()
        if now - self.peer_silent_since < FAILOVER_AFTER:
            return
        if self.synced_epoch != term.epoch:
            self.say("mysql_wait", f"{self.node} cannot take over: it never caught up with "
                                   f"{term.active} (epoch {term.epoch}); waiting for it to return")
            return
        self.promote(local, term)

    def start_replication(self, cur: Any, peer_address: str) -> None:
        secret = self.layout.secrets["mysql_repl"]
        cur.execute("STOP SLAVE")
        cur.execute(
            "CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER='repl', "
            "MASTER_PASSWORD=%s, MASTER_USE_GTID=current_pos, MASTER_CONNECT_RETRY=1, "
            "MASTER_HEARTBEAT_PERIOD=1", (peer_address, self.layout.ports.mysql, secret))
        cur.execute("START SLAVE")
        self.say("mysql", f"{self.node} replicates from {self.peer} by GTID")

    def peer_answers(self) -> bool:
        try:
            with socket.create_connection((self.layout.address(self.peer),
                                           self.layout.ports.mysql), timeout=1) as s:
                s.settimeout(1)
                return len(s.recv(1)) == 1  # a live server sends its greeting at once
        except OSError:
            return False

    def promote(self, local: pymysql.connections.Connection, term: witness.Term) -> None:
        t0 = time.time()
        with local.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone() or {}
            received = replica.get("Gtid_IO_Pos", "")
            if received:
                cur.execute("SELECT MASTER_GTID_WAIT(%s, 30) AS w", (received,))
                cur.fetchone()
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            new = witness.claim(self.layout.rundir, TIER, self.node, term.epoch)
            if new is None:
                return  # someone else moved the epoch first; the next step follows it
            cur.execute("SET GLOBAL read_only = OFF")
            cur.execute("SELECT @@gtid_current_pos AS g")
            gtid = cur.fetchone()["g"]
        done = time.time()
        self.synced_epoch = new.epoch
        self._save()
        self.peer_silent_since = None
        self.say("mysql_failover",
                 f"{self.node} promoted to active MySQL (epoch {new.epoch}) "
                 f"{done - self.failure_seen:.1f}s after {self.peer} stopped answering",
                 failure_seen=self.failure_seen, promoted=done, apply_wait=done - t0, gtid=gtid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    MysqlWatcher(Layout.load(args.lab), args.node).run()


if __name__ == "__main__":
    main()
