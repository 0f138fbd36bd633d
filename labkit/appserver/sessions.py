"""Where login sessions live.

The session id travels in a JSESSIONID cookie as `<id>.<node>`: Apache's balancer reads the part
after the dot as the route and sends the session back to that node (sticky sessions). Where the
session's *data* lives decides what happens when that node dies: in process memory it is lost with
the node; in the replicated MySQL tier the next node finds it.
"""

from __future__ import annotations

import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass
class Session:
    id: str
    user: str
    created_on: str  # the node that created it
    hits: int = 0
    created: float = 0.0


class SessionStore(ABC):
    """The storage behind sessions; one implementation per place they can live."""

    kind: str

    @abstractmethod
    def create(self, user: str, node: str) -> Session: ...

    @abstractmethod
    def hit(self, session_id: str) -> Session | None:
        """Count one request against the session; None if there is no such session."""

    @abstractmethod
    def delete(self, session_id: str) -> None: ...


class MemorySessionStore(SessionStore):
    """Sessions in this process only: they die with the node (the lesson's "before" picture)."""

    kind = "memory"

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str, node: str) -> Session:
        s = Session(new_session_id(), user, node, 0, time.time())
        with self._lock:
            self._sessions[s.id] = s
        return s

    def hit(self, session_id: str) -> Session | None:
        with self._lock:
            s = self._sessions.get(session_id)
            if s:
                s.hits += 1
            return s

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


def new_session_id() -> str:
    """A random id with no dot in it (the dot separates the route)."""
    return secrets.token_hex(16)


def split_cookie(value: str) -> tuple[str, str | None]:
    """`<id>.<route>` → (id, route)."""
    sid, _, route = value.partition(".")
    return sid, route or None
