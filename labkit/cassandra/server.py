"""Apache Cassandra 5.0 on every `cassandra` node: the ring that keeps device image files.

Each node runs one JVM (from the jars Maven fetched, see labkit.cassandra.jars) on its own
address, ports 7000 (gossip, streaming) and 9042 (CQL). Once the ring answers, `after_up` makes
the lab's login role and the file store's keyspace, two copies of every file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from labkit import events
from labkit.cassandra import cds, config, jars
from labkit.component import Component, NodeContext, Program, start_failure, wait_for_port
from labkit.errors import LabError
from labkit.layout import Layout

SETUP_TIMEOUT = 90.0  # seconds the ring may take to accept the role and keyspace after start


class Cassandra(Component):
    role = "cassandra"
    programs = ("cassandra",)

    def configure(self, ctx: NodeContext) -> list[Program]:
        jars.java_binary()  # a missing JDK fails here, with its fix, before anything starts
        jars.ensure()
        config.render(ctx.layout, ctx.node, cds.flags())
        base = config.home(ctx.layout, ctx.node)
        for folder in ("logs", "triggers"):  # the launcher, once it is `cassandra`, makes none
            (base / folder).mkdir(exist_ok=True)
        config.own(base)
        # a clean stop flushes the memtables in a few seconds; a JVM still busy after 8 s is
        # killed, which loses nothing: every acknowledged write is in the commit log
        return [ctx.python_program("cassandra", "labkit.cassandra.launch", priority=30,
                                   startsecs=3, stopwaitsecs=8)]

    def config_files(self, layout: Layout, node: str) -> dict[str, Path]:
        conf = config.conf_dir(layout, node)
        return {name: conf / name
                for name in ("cassandra.yaml", "cassandra-rackdc.properties", "logback.xml")}

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:
        wait_for_port(ctx.address, ctx.layout.ports.cassandra_cql, timeout,
                      f"Cassandra on {ctx.node}", ctx.log("cassandra"),
                      alive=ctx.alive("cassandra"))

    def after_up(self, layout: Layout, ready_nodes: list[str]) -> None:
        from labkit.cassandra import client, store

        t0 = time.monotonic()
        while True:
            try:
                client.ensure_role(layout)
                store.create_schema(layout)
                break
            except LabError:
                raise
            except store.DRIVER_ERRORS as exc:
                # a node whose CQL port answers may still be joining the others' gossip (on a
                # busy machine a joining peer can even be dropped for a second): the role and
                # the keyspace need every replica, so try again while the ring settles
                if time.monotonic() - t0 < SETUP_TIMEOUT:
                    time.sleep(1)
                    continue
                failure = exc
            except Exception as exc:  # noqa: BLE001 - any other driver error: show the log
                failure = exc
            raise start_failure("the Cassandra ring", str(failure),
                                layout.paths.log(ready_nodes[0], "cassandra")) from None
        events.emit(layout.events_path, "cassandra", nodes=ready_nodes,
                    message=f"Cassandra ready on {', '.join(ready_nodes)} "
                            f"(keyspace {config.KEYSPACE}, RF {config.replication_factor(layout)}, "
                            f"set up in {time.monotonic() - t0:.1f}s)")

    def status(self, layout: Layout, live_nodes: list[str]) -> dict[str, Any] | None:
        from labkit.cassandra import ring

        return {"cassandra": ring.status(layout, live_nodes)}
