"""VRRP's election rules as a pure state machine: no sockets, no clock of its own.

Why pure: the rules (who becomes master, when a backup gives up waiting) are what a learner studies,
and they are tested here exactly, step by step, with made-up times. The daemon feeds it real time.
Terms follow RFC 5798 §6: Advertisement_Interval, Skew_Time, Master_Down_Interval, preemption.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum

from labkit.specs import VrrpSpec


class State(str, Enum):
    INIT = "init"
    BACKUP = "backup"
    MASTER = "master"


@dataclass
class Advert:
    """What a VRRP advertisement carries that matters to the election."""

    sender: str  # node name
    address: str  # the sender's address (breaks priority ties: the higher address wins)
    priority: int  # 0 means "I am leaving, take over now"


def skew_time(advert_interval: float, priority: int) -> float:
    """RFC 5798 §6.1 Skew_Time: a lower priority waits a little longer before taking over."""
    return (256 - priority) * advert_interval / 256


def master_down_interval(advert_interval: float, priority: int) -> float:
    """RFC 5798 §6.1 Master_Down_Interval: 3 × Advertisement_Interval + Skew_Time."""
    return 3 * advert_interval + skew_time(advert_interval, priority)


@dataclass
class Election:
    """One router's view of the election."""

    me: str
    address: str
    priority: int
    advert_interval: float = VrrpSpec.advert_interval
    preempt: bool = False
    state: State = State.INIT
    master_down_at: float | None = None  # when a backup stops waiting for the master
    next_advert_at: float | None = None  # when a master sends its next advert
    transitions: list[tuple[float, State, str]] = field(default_factory=list)

    @property
    def skew_time(self) -> float:
        return skew_time(self.advert_interval, self.priority)

    @property
    def master_down_interval(self) -> float:
        return master_down_interval(self.advert_interval, self.priority)

    def start(self, now: float) -> bool:
        """Enter the election; returns True if an advert must be sent now."""
        if self.priority == 255:
            return self._become_master(now, "owner of the address (priority 255)")
        self._become_backup(now, "started")
        return False

    def on_advert(self, now: float, advert: Advert) -> bool:
        """Handle a peer's advert; returns True if an advert must be sent now."""
        if advert.sender == self.me:
            return False
        if self.state is State.BACKUP:
            if advert.priority == 0:
                self.master_down_at = now + self.skew_time  # the master is leaving
            elif not self.preempt or advert.priority >= self.priority:
                self.master_down_at = now + self.master_down_interval
            # a preempting backup ignores adverts from a lower-priority master: its timer fires
            return False
        if self.state is State.MASTER:
            if advert.priority == 0:
                self.next_advert_at = now
                return True
            if not self._beats(advert):
                self._become_backup(now, f"{advert.sender} has priority {advert.priority}")
        return False

    def tick(self, now: float) -> bool:
        """Advance time; returns True if an advert must be sent now."""
        if self.state is State.BACKUP and self.master_down_at is not None \
                and now >= self.master_down_at:
            return self._become_master(now, "no advert within the master-down interval")
        if self.state is State.MASTER and self.next_advert_at is not None \
                and now >= self.next_advert_at:
            self.next_advert_at = now + self.advert_interval
            return True
        return False

    def next_deadline(self) -> float | None:
        return self.master_down_at if self.state is State.BACKUP else self.next_advert_at

    def shutdown(self) -> bool:
        """Leave the election; a master sends a priority-0 advert so its backup takes over fast."""
        was_master = self.state is State.MASTER
        self.state = State.INIT
        return was_master

    # -- internals ----------------------------------------------------------------------------
    def _beats(self, advert: Advert) -> bool:
        """True if I outrank the sender of this advert (priority, then the higher address)."""
        if self.priority != advert.priority:
            return self.priority > advert.priority
        return ipaddress.ip_address(self.address) > ipaddress.ip_address(advert.address)

    def _become_master(self, now: float, why: str) -> bool:
        self.state = State.MASTER
        self.master_down_at = None
        self.next_advert_at = now + self.advert_interval
        self.transitions.append((now, State.MASTER, why))
        return True

    def _become_backup(self, now: float, why: str) -> None:
        self.state = State.BACKUP
        self.next_advert_at = None
        self.master_down_at = now + self.master_down_interval
        self.transitions.append((now, State.BACKUP, why))
