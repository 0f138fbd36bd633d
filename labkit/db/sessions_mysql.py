"""Login sessions in the replicated MySQL tier, so a session outlives the node that created it.

Apache still routes a session back to its node (the cookie's route); this store only decides
where the session's data lives. When that node dies, the balancer sends the next request to
another node, which finds the session here. Each app-server thread keeps one connection to the
active instance and reconnects (through the failover-aware `connect_active`) when it breaks.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pymysql

from labkit import wait
from labkit.appserver.sessions import Session, SessionStore, new_session_id
from labkit.db import mysql
from labkit.layout import Layout

T = TypeVar("T")

#: How long one session operation keeps retrying through a failover before it gives up with
#: FailoverInProgress (the app server turns that into a retryable 503).
RETRY_FOR = 3.0


class MySQLSessionStore(SessionStore):
    kind = "mysql"

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._local = threading.local()

    # -- the three operations -----------------------------------------------------------------
    def create(self, user: str, node: str) -> Session:
        s = Session(new_session_id(), user, node, 0, time.time())
        self._run(lambda cur: cur.execute(
            "INSERT INTO sessions (id, user, created_on, hits, created) "
            "VALUES (%s, %s, %s, %s, %s)", (s.id, s.user, s.created_on, s.hits, s.created)))
        return s

    def hit(self, session_id: str) -> Session | None:
        def work(cur: Any) -> Session | None:
            if not cur.execute("UPDATE sessions SET hits = hits + 1 WHERE id = %s",
                               (session_id,)):
                return None
            cur.execute("SELECT id, user, created_on, hits, created FROM sessions "
                        "WHERE id = %s", (session_id,))
            row = cur.fetchone()
            return Session(**row) if row else None

        return self._run(work)

    def delete(self, session_id: str) -> None:
        self._run(lambda cur: cur.execute("DELETE FROM sessions WHERE id = %s", (session_id,)))

    # -- connection handling ------------------------------------------------------------------
    def _run(self, work: Callable[[Any], T]) -> T:
        """Run `work(cursor)` on the active instance, retrying across a failover for a while.

        A statement that failed because the connection broke may or may not have committed; the
        three operations above are safe to repeat except `hit`, which may then count one extra
        request — an acceptable price for a session counter.
        """
        def once() -> T:
            with self._connection().cursor() as cur:
                return work(cur)

        try:
            return wait.retry(once, RETRY_FOR, every=0.3, on_error=lambda _exc: self._drop(),
                              errors=(pymysql.OperationalError, pymysql.InterfaceError,
                                      mysql.FailoverInProgress))
        except (pymysql.OperationalError, pymysql.InterfaceError, mysql.FailoverInProgress):
            raise mysql.FailoverInProgress(
                "the MySQL tier has no writable instance right now (failover?)",
                "retry in a few seconds") from None

    def _connection(self) -> pymysql.connections.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = mysql.connect_active(self.layout, timeout=1.0)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(pymysql.Error):  # already broken: nothing to close
                conn.close()
