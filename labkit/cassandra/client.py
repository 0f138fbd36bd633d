"""Driver sessions on a lab's ring (cassandra-driver), shared per process.

Every session logs in as the lab's own `labkit` role (its password is the lab's generated
secret). Timeouts are short and idempotent statements are sent again to a second node after
0.2 s, so a frozen Cassandra node costs a request a fraction of a second, not the full timeout.
`pinned(layout, node)` talks to one node only: a read at ONE through it shows that node's copy.
"""

from __future__ import annotations

import contextlib
import threading
import time

from cassandra import AuthenticationFailed, ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import (
    ConstantReconnectionPolicy,
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)

from labkit.cassandra import config
from labkit.errors import LabError
from labkit.layout import Layout

ROLE = "labkit"
REQUEST_TIMEOUT = 5.0  # above the server's own 2 s read/write timeouts, so theirs come first
_sessions: dict[tuple[str, str, str | None], Session] = {}
_lock = threading.Lock()


def session(layout: Layout, node: str | None = None) -> Session:
    """A cached session on the whole ring, or on one node only (`node`)."""
    key = (str(layout.rundir), layout.prefix, node)
    with _lock:
        s = _sessions.get(key)
        if s is None or s.is_shutdown:
            s = _sessions[key] = _connect(layout, node, ROLE, layout.secrets["cassandra"])
        return s


def pinned(layout: Layout, node: str) -> Session:
    return session(layout, node)


def forget(layout: Layout) -> None:
    """Close this lab's sessions (after the lab went down and came back with new secrets)."""
    with _lock:
        for key in [k for k in _sessions if k[0] == str(layout.rundir)]:
            with contextlib.suppress(Exception):
                _sessions.pop(key).cluster.shutdown()


def _close_all() -> None:
    """Shut the driver down before Python's thread pools are: its scheduler thread would
    otherwise submit to a closed pool at exit and print a traceback."""
    with _lock:
        for s in _sessions.values():
            with contextlib.suppress(Exception):
                s.cluster.shutdown()
        _sessions.clear()


# threading's exit hooks run before atexit's, and in reverse order: this one runs before the
# thread pools (registered when the driver imported concurrent.futures) stop taking work
getattr(threading, "_register_atexit", lambda _f: None)(_close_all)


def _connect(layout: Layout, node: str | None, user: str, password: str,
             timeout: float = REQUEST_TIMEOUT) -> Session:
    ring = config.ring_nodes(layout)
    if not ring:
        raise LabError("this lab has no Cassandra node",
                       "give the `cassandra` role to a node in the topology")
    hosts = [layout.address(n) for n in ([node] if node else ring)]
    if node:
        policy = WhiteListRoundRobinPolicy(hosts)
    else:
        policy = TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=config.DC))
    profile = ExecutionProfile(
        load_balancing_policy=policy, consistency_level=ConsistencyLevel.ONE,
        request_timeout=timeout,
        speculative_execution_policy=None if node else ConstantSpeculativeExecutionPolicy(0.2, 2))
    cluster = Cluster(
        hosts, port=layout.ports.cassandra_cql, protocol_version=5,
        auth_provider=PlainTextAuthProvider(user, password),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=2, control_connection_timeout=2,
        idle_heartbeat_interval=2, idle_heartbeat_timeout=2,
        reconnection_policy=ConstantReconnectionPolicy(1.0, max_attempts=None))
    try:
        return cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        found = getattr(exc, "errors", None) or {}  # by host; some driver paths give a list
        errors = list(found.values()) if isinstance(found, dict) else list(found)
        if errors and all(isinstance(e, AuthenticationFailed) for e in errors):
            raise BadLogin(f"Cassandra refused the login of role {user!r}") from None
        first = str(errors[0])[:200] if errors else str(exc)
        raise LabError(f"no Cassandra node answered at {', '.join(hosts)}: {first}",
                       "check `labkit status` (is the cassandra service running?)") from None


def _cheap_hash(layout: Layout, s: Session) -> None:
    """A role made before the lab set bcrypt's cost (a lab started by an older labkit, its data
    kept) is hashed at 2^10 rounds: set its password again, which hashes it at today's cost."""
    row = s.execute("SELECT salted_hash FROM system_auth.roles WHERE role = %s", [ROLE]).one()
    if row and not str(row.salted_hash).startswith(f"$2a${config.BCRYPT_ROUNDS:02d}$"):
        s.execute(f"ALTER ROLE {ROLE} WITH PASSWORD = %s", [layout.secrets["cassandra"]])


class BadLogin(LabError):
    """The ring answered but refused the credentials."""


def ensure_role(layout: Layout, timeout: float = 90) -> None:
    """Create the lab's `labkit` role from Cassandra's built-in `cassandra` role, then drop that
    one: its fixed password is public, and its logins need a QUORUM, so they fail with a node
    down. Idempotent: a lab whose role exists only checks that it can log in."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            _cheap_hash(layout, session(layout))
            return
        except BadLogin:
            pass  # no labkit role yet: make it below
        except LabError as exc:
            last = exc.message
            time.sleep(1)
            continue
        try:
            boot = _connect(layout, None, "cassandra", "cassandra")
        except LabError as exc:  # the default role is not there yet: Cassandra makes it at start
            last = exc.message
            time.sleep(1)
            continue
        try:
            boot.execute(f"CREATE ROLE IF NOT EXISTS {ROLE} WITH PASSWORD = %s "
                         "AND SUPERUSER = true AND LOGIN = true", [layout.secrets["cassandra"]])
            mine = session(layout)
            mine.execute("DROP ROLE IF EXISTS cassandra")
            return
        finally:
            boot.cluster.shutdown()
    raise LabError(f"could not log in to Cassandra as {ROLE}: {last}",
                   f"look at the cassandra logs under {layout.rundir}/nodes/*/log/")


