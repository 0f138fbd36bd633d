"""What the MySQL and PostgreSQL watchers share: the loop, the epoch memory, the failover clock.

Each database node runs one watcher beside its server. Both tiers follow the same rules: the
witness names the active; a standby remembers the last epoch in which it was fully caught up
(`synced_epoch`, kept on disk so a restart does not forget it); and a standby only takes over
after the active has been silent for `failover_after` seconds (the topology's `mysql:` or
`postgres:` section) *and* the standby itself still reaches some other node (otherwise it is
more likely the one cut off). The same vote holds
the active back: one that reaches no other node never goes on alone (`stays_waiting`).

An unreadable witness stops the watcher's work (no promotion, no going alone, no fencing) and is
said as a `<tier>_witness` event until someone repairs the file.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from typing import Any, ClassVar

from labkit import events
from labkit.db import witness
from labkit.layout import Layout

POLL = 0.5
#: each step of a liveness probe (the TCP connect, the server's first answer) may take this long
PROBE_TIMEOUT = 1.0


def server_answers(address: str, port: int, hello: bytes = b"") -> bool:
    """Whether a database server answers at all, in as few round trips as its protocol allows:
    connect, send `hello` (if its protocol has the client speak first), read one byte. Not a
    login: a login costs several round trips more (PostgreSQL's SCRAM takes four in all), and
    on a slow link (200 ms each way, the slow-links chaos plan) a 1 s login timed out every
    time, so a standby promoted itself over an active that was only far away. Each step has
    its own PROBE_TIMEOUT, so a round trip of up to a second still counts as an answer."""
    try:
        with socket.create_connection((address, port), timeout=PROBE_TIMEOUT) as s:
            s.settimeout(PROBE_TIMEOUT)
            if hello:
                s.sendall(hello)
            return len(s.recv(1)) == 1
    except OSError:
        return False


class TierWatcher:
    """Base of one tier's watcher; subclasses say what one `step` does and how to reach the peer."""

    tier: ClassVar[str]
    #: the run directory's name for this watcher's memory (`RunDir.watcher`): "mysql" or "pg"
    state_name: ClassVar[str]
    server_errors: ClassVar[tuple[type[Exception], ...]]  # what a (re)starting server raises

    def __init__(self, layout: Layout, node: str, tier_nodes: list[str]) -> None:
        self.layout = layout
        self.node = node
        self.peer = next(n for n in tier_nodes if n != node)
        self.state_path = layout.paths.watcher(node, self.state_name)
        try:
            self.synced_epoch: int = json.loads(self.state_path.read_text())["synced_epoch"]
        except (FileNotFoundError, ValueError, KeyError):
            self.synced_epoch = 0
        #: seconds of silence from the active before this standby takes over (the topology's
        #: `mysql: {failover_after: …}` / `postgres: {failover_after: …}`)
        self.failover_after: float = getattr(layout.topology, self.tier).failover_after
        self.peer_silent_since: float | None = None
        self.failure_seen = 0.0
        self.was_cut_off = False  # the last look found this node cut off from every other
        self.said: str | None = None
        self.running = True

    def remember_synced(self, epoch: int) -> None:
        self.synced_epoch = epoch
        self.state_path.write_text(json.dumps({"synced_epoch": epoch}))

    def say(self, kind: str, message: str, **fields: Any) -> None:
        """Emit an event once per distinct message (the loop repeats every half second)."""
        if message != self.said:
            self.said = message
            events.emit(self.layout.events_path, kind, node=self.node, tier=self.tier,
                        message=message, **fields)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        while self.running:
            try:
                with contextlib.suppress(*self.server_errors):  # our server is (re)starting
                    self.step()
            except witness.WitnessCorrupt as exc:  # nobody can tell who is active: do nothing
                self.say(f"{self.tier}_witness", str(exc))
            time.sleep(POLL)

    def step(self) -> None:
        raise NotImplementedError

    def peer_answers(self) -> bool:
        raise NotImplementedError

    def may_take_over(self, term: witness.Term, caught_up: bool, why_not: str) -> bool:
        """True once the active has been silent long enough and this standby may replace it.

        `caught_up` says whether this standby holds every commit the active acknowledged in
        `term`; when it does not, it waits and says `why_not` ("<node> will not take over: ...").
        """
        if self.peer_answers():
            self.peer_silent_since, self.was_cut_off = None, False
            return False
        now = time.monotonic()
        if self.peer_silent_since is None:
            self.peer_silent_since, self.failure_seen = now, time.time()
        if now - self.peer_silent_since < self.failover_after:
            return False
        if witness.cut_off(self.layout, self.node, self.peer):
            self.was_cut_off = True
            self.say(f"{self.tier}_wait", f"{self.node} cannot take over: it reaches no other "
                                          "node, so it is probably the one cut off")
            return False
        if self.healed_and_peer_answers():
            return False
        if not caught_up:
            self.say(f"{self.tier}_wait", f"{self.node} will not take over: {why_not}")
            return False
        return True

    def healed_and_peer_answers(self) -> bool:
        """True when this node was cut off at its last look, reaches the others now, and its peer
        answers again: the silence was the cut, which has just healed, so no failover.

        Without this second question a heal landing while `peer_answers` was still timing out
        (up to its 1 s) promoted the standby although the active was fine all along: safe
        (nothing acknowledged is lost) but a needless failover, counted by the false-failover
        soak. It costs one more question only on the way out of a cut, never in a plain failover.
        """
        if not self.was_cut_off:
            return False
        self.was_cut_off = False
        if not self.peer_answers():
            return False
        self.peer_silent_since = None
        self.say(f"{self.tier}_wait", f"{self.node} reaches the other nodes again and "
                                      f"{self.peer} answers: its silence was the cut, no failover")
        return True

    def stays_waiting(self) -> bool:
        """True when this active must not go on alone because it reaches no other node.

        Going alone forbids the standby to take over (it would lack the commits made alone). An
        active that is itself cut off would so keep the healthy side from failing over, for
        nothing: no client reaches it. So it keeps its commits waiting (none is acknowledged)
        and lets the standby, which still reaches the others, take over; the next step then
        finds the new term and fences this instance. A real partition found this: the isolated
        primary won the race to the witness and the pair stayed without a writer until heal.
        """
        if not witness.cut_off(self.layout, self.node, self.peer):
            return False
        self.say(f"{self.tier}_wait", f"{self.node} does not go on alone: it reaches no other "
                                      "node, so it is probably the one cut off; its commits keep "
                                      f"waiting (none is acknowledged) and {self.peer} may take "
                                      "over")
        return True

    def promoted(self, label: str, epoch: int, **fields: Any) -> None:
        """Record a finished promotion: the new epoch, and the event with its timings."""
        done = time.time()
        self.remember_synced(epoch)
        self.peer_silent_since = None
        self.say(f"{self.tier}_failover",
                 f"{self.node} promoted to {label} (epoch {epoch}) "
                 f"{done - self.failure_seen:.1f}s after {self.peer} stopped answering",
                 failure_seen=self.failure_seen, promoted=done, **fields)
