"""PostgreSQL on each `postgres` node: a streaming pair for the monitoring data, plus its watcher.

The `postgres` program is labkit's launcher (labkit.db.pg_node), which puts the data directory
in the role the witness gives it (initdb / clone / rewind) and then becomes the server itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit import wait
from labkit.component import Component, NodeContext, Program, start_failure, wait_for_port
from labkit.db import postgres, witness
from labkit.layout import Layout


class Postgres(Component):
    role = "postgres"
    programs = ("postgres", "pgwatch")

    def configure(self, ctx: NodeContext) -> list[Program]:
        postgres.bin_dir()  # fail early, with the fix, if the server is not installed
        return [
            ctx.python_program("postgres", "labkit.db.pg_node", priority=40, stopwaitsecs=30,
                               stopsignal="INT", startsecs=2),
            ctx.python_program("pgwatch", "labkit.db.pg_watch", priority=45, stopwaitsecs=3),
        ]

    def config_files(self, layout: Layout, node: str) -> dict[str, Path]:
        """In the data directory, where the launcher's initdb wrote them (a standby's are its
        primary's copies, from pg_basebackup). postgresql.auto.conf holds what ALTER SYSTEM
        set: the watcher's synchronous_standby_names."""
        data = layout.paths.postgres_data(node)
        return {name: data / name
                for name in ("postgresql.conf", "pg_hba.conf", "postgresql.auto.conf")}

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        if self.primary_lost(ctx.layout, [ctx.node]):
            return  # its launcher rightly waits for the lost primary: nothing will listen yet
        wait_for_port(ctx.address, ctx.layout.ports.postgres, timeout,
                      f"PostgreSQL on {ctx.node}", ctx.log("postgres"),
                      alive=ctx.alive("postgres"))

    def after_up(self, layout: Layout, ready_nodes: list[str]) -> None:
        def settled() -> bool:
            st = postgres.tier_status(layout)
            live = [n for n, s in st["instances"].items() if s["role"] != "down"]
            standbys_ok = all(s.get("streaming") for s in st["instances"].values()
                              if s["role"] == "standby")
            if isinstance(st["active"], str) and standbys_ok and set(ready_nodes) <= set(live):
                return True
            # or: `status` says the pair waits for its primary to return
            return st["active"] is None and self.primary_lost(layout, ready_nodes)

        if not wait.until(settled, 90, every=0.3):
            raise start_failure("the PostgreSQL pair", "no primary with a streaming standby "
                                "within 90s", layout.paths.log(ready_nodes[0], "postgres"))

    @staticmethod
    def primary_lost(layout: Layout, returning: list[str]) -> bool:
        """The witness's primary is another node, and it is down: a returning node may lack
        that primary's commits, so it waits for it instead of starting alone."""
        term = witness.read(layout.rundir, postgres.TIER)
        return (term is not None and term.active not in returning
                and postgres.instance_state(layout, term.active)["role"] == "down")

    def status(self, layout: Layout, live_nodes: list[str]) -> dict[str, Any] | None:
        return {"postgres": postgres.tier_status(layout)}
