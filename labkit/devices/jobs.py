"""This node's share of device jobs: it runs the sub-jobs MySQL queues for it.

A resync of N devices is split at creation into one sub-job per node serving some of them
(`labkit.devices.mediation.split`); each node claims its own queued sub-jobs and resynchronizes
their devices over its mediator's sessions, a few devices at a time. Each finished device is
recorded once per job (the record's key is job + device), and a sub-job skips the devices the
job already has, so a re-run never repeats finished work. Devices a sub-job could not do (moved
away meanwhile, unreachable) go into new sub-jobs on the nodes serving them now.

Exactly-once holds for the record, not on the wire: if a node dies after the device answered
but before the record was written, the survivor fetches that device's configuration again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from labkit import events
from labkit.devices.mediator import SESSION_ERRORS, Mediator, NotServedHere
from labkit.devices.store import Store
from labkit.layout import Layout

log = logging.getLogger("labkit.jobs")
POLL = 0.3
#: devices resynchronized at once on one node (its worker pool). 5, not 4: the default fleet of 100
#: then takes whole rounds on one node (20) and on four (25 each: 5), so the split can reach its
#: 4x; with 4 a node's 25 devices took 7 rounds, the last one a quarter full (at most 3.57x)
WORKERS = 5


class JobRunner:
    def __init__(self, layout: Layout, node: str, mediator: Mediator) -> None:
        self.layout = layout
        self.node = node
        self.mediator = mediator
        self.store = Store(layout)
        self.workers = asyncio.Semaphore(WORKERS)
        self.running: dict[int, asyncio.Task] = {}
        self._news = asyncio.Event()  # set by `wake`: sub-jobs were queued, look now

    async def _db(self, fn: Callable[..., Any], *args: Any, patience: float = 120) -> Any:
        """A store call, retried through a MySQL failover (which takes a few seconds)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                return await asyncio.to_thread(fn, *args)
            except Exception as exc:  # noqa: BLE001 - retried until the deadline
                if time.monotonic() > deadline:
                    raise
                log.info("MySQL not ready for %s: %s", getattr(fn, "__name__", fn), exc)
                await asyncio.sleep(1)

    async def run(self) -> None:
        # sub-jobs this node was running when its app server died and came back before the
        # others noticed: nobody else will re-run them, so this node does
        await self._db(self.store.requeue, self.node, patience=1e9)
        while True:
            try:
                if self.mediator.membership.quorum:
                    for sj in await asyncio.to_thread(self.store.claim_subjobs, self.node):
                        self.running[sj["id"]] = asyncio.ensure_future(self.run_subjob(sj))
            except Exception as exc:  # noqa: BLE001 - MySQL failing over: poll again
                log.info("cannot poll sub-jobs: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), POLL)
            self._news.clear()

    def wake(self) -> None:
        """Look for sub-jobs now rather than at the next poll: the node that created a job
        nudges every node (a waiting POLL cost the 4-node resync up to 0.3 s of its ~1 s)."""
        self._news.set()

    async def run_subjob(self, sj: dict[str, Any]) -> None:
        label = f"sub-job {sj['job_id']}.{sj['id']}"
        try:
            done = await self._db(self.store.done_devices, sj["job_id"])
            todo = [d for d in sj["devices"] if d not in done]
            problems: dict[str, str] = {}
            pending: list[tuple[str, str]] = []
            writing = asyncio.Lock()

            async def record(dev: str, digest: str) -> None:
                """Group commit: whoever holds the lock writes every record waiting by then,
                in one transaction; a record a batch already took is done when its turn
                comes."""
                pending.append((dev, digest))
                async with writing:
                    if not pending:
                        return
                    batch = pending[:]
                    pending.clear()
                    for again in await self._db(self.store.record_resyncs, sj["job_id"],
                                                sj["id"], self.node, batch):
                        log.warning("%s: %s was already resynchronized in this job", label,
                                    again)

            async def one(dev: str) -> None:
                # a worker waits for the device only: its record is written once it has moved
                # on (held through MySQL's commit, every round of the pool paid for it again)
                async with self.workers:
                    try:
                        digest = await self.mediator.resync(dev)
                    except (NotServedHere, TimeoutError, *SESSION_ERRORS) as exc:
                        problems[dev] = str(exc)
                        return
                await record(dev, digest)

            await asyncio.gather(*(one(d) for d in todo))
            leftover = sorted(problems)
            note = "; ".join(f"{d}: {why}" for d, why in sorted(problems.items())[:3])
            assignments = await self._db(self.store.assignments)
            await self._db(self.store.finish_subjob, sj, leftover, note, assignments)
            events.emit(self.layout.events_path, "subjob", job=sj["job_id"], subjob=sj["id"],
                        node=self.node, done=len(todo) - len(leftover), total=sj["total"],
                        message=f"{label} on {self.node}: {len(todo) - len(leftover)} of "
                                f"{len(todo)} devices resynchronized"
                                + (f", {len(leftover)} handed on" if leftover else ""))
        except Exception:  # noqa: BLE001 - the coordinator re-runs a sub-job left running
            log.exception("%s failed on %s", label, self.node)
        finally:
            self.running.pop(sj["id"], None)
