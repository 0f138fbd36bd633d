"""The MySQL watcher on each `mysql` node: keeps its instance in the role the witness gives it.

Run as `python -m labkit.db.mysql_watch --lab LAB --node NODE` under the node's supervisor.

* Active (per the witness): make sure the instance is writable and replicates from nobody.
* Standby: make sure it replicates from the active by GTID (semi-synchronous, so a commit the
  client saw acknowledged is in this instance's relay log). When the active stops answering for
  `failover_after` seconds (the topology's), apply everything received, stop replicating,
  become writable, and record the new epoch in the witness.
* A standby that never caught up with the current active (it was down while the active took
  writes) must not promote: it waits, and says so, until the active returns.

Semi-synchronous replication is switched on by this watcher, on the active only, and the server
never falls back to asynchronous commits by a timeout of its own (the timeout is an hour): a
frozen active that wakes up would otherwise acknowledge its in-flight commit at once, although
its standby has been promoted without it. Instead, when the standby is gone for `alone_after`
seconds, the active first records in the witness that it goes on alone (which forbids the
standby's promotion), and only then stops waiting for acknowledgements. A writable instance that
the witness no longer names active was frozen or cut off: it kills its own server, which comes
back read-only; if its binary log then holds commits the new active never got (never
acknowledged to any client), the rejoin fails with a diverged GTID and the watcher re-seeds the
instance from the active (labkit.db.mysql_reseed).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

import pymysql

from labkit import wait
from labkit.db import mysql_reseed, witness
from labkit.db.mysql import TIER, connect, nodes
from labkit.db.watcher import TierWatcher, server_answers
from labkit.layout import Layout, node_program_args

#: seconds one step waits for the applier before promoting; the next step waits again. Kept
#: below the connection's read timeout (10 s), which would otherwise cut the wait short.
APPLY_WAIT = 5.0


class MysqlWatcher(TierWatcher):
    tier = TIER
    state_name = "mysql"
    server_errors = (pymysql.MySQLError,)

    def __init__(self, layout: Layout, node: str) -> None:
        super().__init__(layout, node, nodes(layout))
        self.standby_missing_since: float | None = None
        #: seconds without a semi-sync standby before going on alone (`mysql: {alone_after: …}`)
        self.alone_after: float = layout.topology.mysql.alone_after
        self.last_acked = -1  # Rpl_semi_sync_master_yes_tx at the previous step

    # -- the loop -----------------------------------------------------------------------------
    def step(self) -> None:
        term = witness.read(self.layout.rundir, TIER)
        local = connect(self.layout, self.node, user="root", database=None, timeout=1)
        try:
            if term is None:
                if self.node == nodes(self.layout)[0]:
                    term = witness.claim(self.layout.rundir, TIER, self.node, 0, alone=True)
                    if term:
                        self.say("mysql", f"{self.node} starts as the active MySQL (epoch 1)")
                return
            if term.active == self.node:
                self.be_active(local, term)
            else:
                self.be_standby(local, term)
        finally:
            local.close()

    def be_active(self, local: pymysql.connections.Connection, term: witness.Term) -> None:
        with local.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            if cur.fetchone():
                cur.execute("STOP SLAVE")
                cur.execute("RESET SLAVE ALL")
            semi = semi_sync_state(cur)
            if not term.alone and not semi["enabled"] and self.layout.topology.mysql.semi_sync:
                # before the instance is writable: a commit made in between would be
                # acknowledged without waiting for the standby (e.g. after a restart)
                cur.execute("SET GLOBAL rpl_semi_sync_master_enabled = ON")
                semi = semi_sync_state(cur)
            cur.execute("SELECT @@read_only AS ro")
            if cur.fetchone()["ro"]:
                cur.execute("SET GLOBAL read_only = OFF")
            if term.alone:
                self.rejoin_standby(cur, term, semi)
            else:
                self.watch_standby(cur, term, semi)

    def watch_standby(self, cur: Any, term: witness.Term, semi: dict[str, Any]) -> None:
        """Commits wait for the standby; if it is gone for a while, go on alone (witness first)."""
        if not self.layout.topology.mysql.semi_sync:
            return  # asynchronous by topology (unsafe on purpose): no commit ever waits
        # gone: disconnected, or connected but silent (frozen) while commits wait for it
        stuck = semi["waiting"] > 0 and semi["acked"] == self.last_acked
        self.last_acked = semi["acked"]
        if semi["clients"] > 0 and not stuck:
            self.standby_missing_since = None
            return
        now = time.monotonic()
        if self.standby_missing_since is None:
            self.standby_missing_since = now
        if now - self.standby_missing_since < self.alone_after or self.stays_waiting():
            return
        if witness.set_alone(self.layout.rundir, TIER, self.node, term.epoch, True):
            cur.execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF")  # releases waiters
            self.say("mysql_alone", f"{self.node} goes on alone: no standby acknowledges "
                                    "commits, so they no longer wait for one (and "
                                    f"{self.peer} may not take over until it has caught up)")
        # else: the standby was promoted first; the next step sees it and fences this instance

    def rejoin_standby(self, cur: Any, term: witness.Term, semi: dict[str, Any]) -> None:
        """Alone: turn semi-sync back on once the standby streams, and end `alone` once it has
        received every commit made before semi-sync was on again."""
        semi_sync = self.layout.topology.mysql.semi_sync  # off: async, unsafe by topology
        if semi_sync and not semi["enabled"]:
            if self.peer_receiving() is None:
                return
            cur.execute("SET GLOBAL rpl_semi_sync_master_enabled = ON")
            semi = semi_sync_state(cur)
        if semi_sync and not (semi["status"] and semi["clients"] > 0):
            return
        cur.execute("SELECT @@gtid_binlog_pos AS g")
        mine = cur.fetchone()["g"]
        received = self.peer_receiving()
        if received is not None and gtid_covers(received, mine) and witness.set_alone(
                self.layout.rundir, TIER, self.node, term.epoch, False):
            self.standby_missing_since = None
            self.say("mysql", f"{self.peer} has caught up: commits on {self.node} now wait for "
                              "its acknowledgement (semi-sync)" if semi_sync else
                              f"{self.peer} has caught up (async: unsafe by topology)")

    def peer_receiving(self) -> str | None:
        """The GTID position the peer has received from us, or None if it does not replicate."""
        try:
            peer = connect(self.layout, self.peer, user="root", database=None, timeout=1)
        except pymysql.MySQLError:
            return None
        try:
            with peer.cursor() as cur:
                cur.execute("SHOW SLAVE STATUS")
                row = cur.fetchone()
        finally:
            peer.close()
        if not row or row["Slave_IO_Running"] != "Yes":
            return None
        return row["Gtid_IO_Pos"]

    def fence(self, term: witness.Term) -> None:
        """This instance is writable but no longer the active: kill it (it restarts read-only).

        Setting read_only is not enough, and not even possible: it waits for the commits that
        wait for a semi-sync acknowledgement, and anything that released those would acknowledge
        them to their clients although the new active never got them.
        """
        pid_file = self.layout.paths.mysql_pid(self.node)
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        self.say("mysql_fence", f"{self.node} was still writable, but {term.active} is active "
                                f"(epoch {term.epoch}): killed its own server, which restarts "
                                "read-only and rejoins as standby")

    def be_standby(self, local: pymysql.connections.Connection, term: witness.Term) -> None:
        peer_address = self.layout.address(self.peer)
        with local.cursor() as cur:
            cur.execute("SELECT @@read_only AS ro")
            if not cur.fetchone()["ro"]:
                self.fence(term)  # never two writers
                return
            if semi_sync_state(cur)["enabled"]:
                cur.execute("SET GLOBAL rpl_semi_sync_master_enabled = OFF")  # read-only: no waiter
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone()
            if replica is None or replica["Master_Host"] != peer_address:
                self.start_replication(cur, peer_address)
                return
            if {replica["Last_IO_Errno"], replica["Last_SQL_Errno"]} & mysql_reseed.DIVERGED:
                self.reseed(cur, peer_address, replica)
                return
            if replica["Slave_IO_Running"] == "No" and replica["Slave_SQL_Running"] == "No" \
                    and not replica["Last_IO_Errno"] and not replica["Last_SQL_Errno"]:
                cur.execute("START SLAVE")  # configured before a restart (skip-slave-start)
            if replica["Slave_IO_Running"] == "Yes" and replica["Slave_SQL_Running"] == "Yes" \
                    and replica["Seconds_Behind_Master"] == 0:
                if self.synced_epoch != term.epoch:
                    self.remember_synced(term.epoch)
                    self.say("mysql", f"{self.node} is a caught-up standby of {self.peer}")
            elif replica["Slave_SQL_Running"] == "No" and replica["Last_SQL_Errno"]:
                self.say("mysql_error", f"{self.node} replication stopped: "
                                        f"{replica['Last_SQL_Error']}")
        caught_up = self.synced_epoch == term.epoch and not term.alone
        if self.may_take_over(term, caught_up,
                              self.why_behind(term, replica, self.node, self.layout.lab)):
            self.promote(local, term)

    @staticmethod
    def why_behind(term: witness.Term, replica: dict[str, Any] | None,
                   node: str = "this standby", lab: str | None = None) -> str:
        """Why a standby that was never caught up in this epoch will not take over.

        A stopped applier is named first: it is what the operator has to repair. An active that
        went on alone is said as such (the standby surely lacks what it committed alone), with
        the two ways out, as PostgreSQL's watcher says them.
        """
        if term.alone:
            since = time.strftime("%H:%M:%S", time.localtime(term.alone_since or term.since))
            force = f"labkit db force {TIER} {node}" + (f" --lab {lab}" if lab else "")
            behind = (f"{term.active} committed alone since {since} (epoch {term.epoch}, "
                      f"semi-sync off), and {node} lacks those commits; recover {term.active}, "
                      f"or accept the loss with `{force}`")
        else:
            behind = (f"it may lack commits {term.active} acknowledged (epoch {term.epoch}); "
                      "waiting for it to return")
        if replica and replica.get("Slave_SQL_Running") == "No" and replica.get("Last_SQL_Errno"):
            return (f"its applier stopped ({replica['Last_SQL_Errno']}: "
                    f"{(replica.get('Last_SQL_Error') or '')[:120]}), so {behind}. Repair the "
                    "applier (SHOW SLAVE STATUS) or bring the active back")
        return behind

    def reseed(self, cur: Any, peer_address: str, replica: dict[str, Any]) -> None:
        error = replica["Last_IO_Error"] or replica["Last_SQL_Error"]
        self.say("mysql_reseed", f"{self.node} diverged from {self.peer} ({error[:120]}); "
                                 f"re-seeding it from {self.peer}")
        cur.execute("STOP SLAVE")
        cur.execute("RESET SLAVE ALL")
        keep = self.layout.paths.mysql_diverged(self.node, time.strftime("%Y%m%d-%H%M%S"))
        try:
            gtid = mysql_reseed.reseed(self.layout, self.node, self.peer, keep)
        except (RuntimeError, OSError) as exc:
            self.say("mysql_error", f"{self.node} re-seed failed: {exc}")
            return
        self.start_replication(cur, peer_address)
        self.say("mysql", f"{self.node} re-seeded from {self.peer} at GTID {gtid}; what it "
                          f"held before is kept in {keep}")

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
        # a live MariaDB sends its greeting at once, before any login
        return server_answers(self.layout.address(self.peer), self.layout.ports.mysql)

    def promote(self, local: pymysql.connections.Connection, term: witness.Term) -> None:
        t0 = time.time()
        if witness.read(self.layout.rundir, TIER) != term:
            return  # the active went on alone, or the epoch moved: the next step follows it
        with local.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone() or {}
            received = replica.get("Gtid_IO_Pos", "")
            if received and not self.applied(cur, replica, received):
                return
            cur.execute("STOP SLAVE")
            cur.execute("RESET SLAVE ALL")
            # the old active is gone: the new one starts alone (no standby to wait for)
            new = witness.claim(self.layout.rundir, TIER, self.node, term.epoch, alone=True)
            if new is None:
                return  # someone else moved the epoch first; the next step follows it
            cur.execute("SET GLOBAL read_only = OFF")
            cur.execute("SELECT @@gtid_current_pos AS g")
            gtid = cur.fetchone()["g"]
        self.promoted("active MySQL", new.epoch, apply_wait=time.time() - t0, gtid=gtid)

    def applied(self, cur: Any, replica: dict[str, Any], received: str) -> bool:
        """Has this standby applied every transaction it received (its relay log)?

        Semi-sync acknowledges a commit once the standby has *received* it, so relay-logged
        transactions are acknowledged to clients. `RESET SLAVE ALL` deletes the relay log:
        promoting before they are applied would lose them. An applier stopped by an error will
        not apply them at all, so the standby refuses and says why; a slow one is waited for,
        `APPLY_WAIT` seconds at a time, for as long as it takes.
        """
        def holds_all() -> bool:
            # gtid_current_pos, not MASTER_GTID_WAIT: the wait compares gtid_slave_pos, which
            # never holds this instance's own transactions from an epoch when it was active
            cur.execute("SELECT @@gtid_current_pos AS g")
            return gtid_covers(cur.fetchone()["g"], received)

        if holds_all():
            return True
        if replica.get("Slave_SQL_Running") != "Yes":
            why = (f"its applier stopped ({replica.get('Last_SQL_Errno')}: "
                   f"{(replica.get('Last_SQL_Error') or 'stopped')[:120]})")
        elif wait.until(holds_all, APPLY_WAIT, every=0.2):
            return True
        else:
            why = "its applier has not applied them yet"
        self.say("mysql_wait", f"{self.node} will not take over: it received transactions "
                               f"up to {received} from {self.peer} (acknowledged to clients) "
                               f"but {why}. Bring {self.peer} back, or repair the applier "
                               "(SHOW SLAVE STATUS) so it can catch up")
        return False


def semi_sync_state(cur: Any) -> dict[str, Any]:
    """Is semi-sync switched on here, is it in effect, and how many standbys acknowledge."""
    cur.execute("SELECT @@rpl_semi_sync_master_enabled AS enabled")
    enabled = bool(cur.fetchone()["enabled"])
    cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                "('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_clients', "
                "'Rpl_semi_sync_master_wait_sessions', 'Rpl_semi_sync_master_yes_tx')")
    status = {r["Variable_name"]: r["Value"] for r in cur.fetchall()}

    def number(name: str) -> int:
        return int(status.get(name) or 0)
    return {"enabled": enabled, "status": status.get("Rpl_semi_sync_master_status") == "ON",
            "clients": number("Rpl_semi_sync_master_clients"),
            "waiting": number("Rpl_semi_sync_master_wait_sessions"),
            "acked": number("Rpl_semi_sync_master_yes_tx")}


def gtid_covers(position: str, target: str) -> bool:
    """True if GTID position `position` includes every transaction of `target` (per domain)."""
    def seqs(pos: str) -> dict[str, int]:
        out = {}
        for part in filter(None, (p.strip() for p in pos.split(","))):
            domain, _server, seq = part.split("-")
            out[domain] = int(seq)
        return out
    have = seqs(position)
    return all(have.get(domain, -1) >= seq for domain, seq in seqs(target).items())


def main() -> None:
    layout, node = node_program_args(__doc__)
    MysqlWatcher(layout, node).run()


if __name__ == "__main__":
    main()
