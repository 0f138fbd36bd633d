"""`cluster.mysql` and `cluster.postgres`: the lessons' handles on the two database pairs.

    lab = Cluster.attach()
    with lab.mysql.connect() as conn:          # pymysql, to whichever instance is active now
        ...
    load = lab.mysql.write_load(rate=50)       # numbered rows in the background
    lab.fail(lab.mysql.active(), "crash")      # watch the standby take over
    load.stop().missing(lab.mysql.connect())   # acknowledged rows the new active lacks: []

Both handles connect with the lab's own generated credentials (layout.secrets).
"""

from __future__ import annotations

import uuid
from typing import Any

from labkit.db import load, mysql, postgres
from labkit.layout import Layout


class _Tier:
    """What both pairs offer: who is active, the status section, a write load."""

    module: Any
    placeholder = "%s"

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @classmethod
    def of(cls, lab: Any) -> Any:
        """The handle of `lab` (a `Cluster`): what `lab.mysql` / `lab.postgres` give."""
        return cls(lab.layout)

    def status(self) -> dict[str, Any]:
        """The same section `labkit status --json` shows for this tier."""
        return self.module.tier_status(self.layout)

    def active(self) -> str | None:
        """The node of the writable instance right now (None during a failover)."""
        who = self.status()["active"]
        return who if isinstance(who, str) else None

    def standby(self) -> str | None:
        who = self.status()["standby"]
        return who if isinstance(who, str) else None

    def nodes(self) -> list[str]:
        return self.module.nodes(self.layout)

    def not_whole(self) -> str | None:
        """Why the pair could not survive losing its active right now (None: it could).

        Whole means one active, one standby that is replicating from it, and no record in the
        witness that the active committed alone (then the standby lacks commits and may not take
        over). A chaos step that breaks the standby and then the active means something only
        when it starts from a whole pair."""
        st = self.status()
        active, standby = st.get("active"), st.get("standby")
        if not isinstance(active, str) or not isinstance(standby, str):
            return f"active {active or 'none'}, standby {standby or 'none'}"
        if st.get("alone"):
            return f"{active} committed alone: {standby} lacks those commits"
        if not self.replicating(st["instances"][standby]):
            return f"{standby} is not replicating from {active} yet"
        return None

    @staticmethod
    def replicating(instance: dict[str, Any]) -> bool:
        raise NotImplementedError

    def connect(self) -> Any:
        raise NotImplementedError

    def write_load(self, rate: float = 20.0, client: str | None = None) -> load.WriteLoad:
        """Start inserting numbered rows at `rate` per second; `.stop()` ends it.

        `.acked` lists the rows the server acknowledged, `.errors` the writes that failed (and
        were reported to the caller), `.missing(conn)` the acknowledged rows a server lacks.
        """
        name = client or f"lesson-{uuid.uuid4().hex[:8]}"
        return load.WriteLoad(self.layout, self.connect, name, self.placeholder).start(rate)


class MySQLTier(_Tier):
    module = mysql

    def connect(self, user: str = "labkit", database: str | None = "labkit",
                timeout: float = 2.0) -> Any:
        """A pymysql connection (autocommit, dict rows) to the active instance.

        Raises FailoverInProgress (a LabError: retry) while no instance is writable.
        """
        return mysql.connect_active(self.layout, timeout=timeout, user=user, database=database)

    def connect_to(self, node: str, timeout: float = 2.0) -> Any:
        """A connection to one instance, active or not (to read a standby's copy)."""
        return mysql.connect(self.layout, node, timeout=timeout)

    @staticmethod
    def replicating(instance: dict[str, Any]) -> bool:
        """SHOW SLAVE STATUS: both the I/O and the SQL thread running."""
        return instance.get("io_running") == "Yes" and instance.get("sql_running") == "Yes"


class PostgresTier(_Tier):
    module = postgres

    def connect(self, autocommit: bool = True) -> Any:
        """A psycopg connection (dict rows) to the primary, found by libpq's multi-host rule."""
        return postgres.connect_primary(self.layout, autocommit=autocommit)

    def connect_to(self, node: str, timeout: float = 2.0) -> Any:
        """A connection to one instance (a hot standby answers reads)."""
        return postgres.connect(self.layout, node, timeout=timeout)

    @staticmethod
    def replicating(instance: dict[str, Any]) -> bool:
        """pg_stat_wal_receiver: status streaming."""
        return bool(instance.get("streaming"))
