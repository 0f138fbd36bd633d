"""A node's job runner looks for its sub-jobs the moment it is woken, not at its next poll."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from labkit.devices import jobs
from labkit.layout import Layout
from labkit.topology import Topology


class Looks:
    """A stand-in for the store's two calls the runner's loop makes: when it looked."""

    def __init__(self) -> None:
        self.at: list[float] = []

    def requeue(self, _node: str) -> int:
        return 0

    def claim_subjobs(self, _node: str) -> list:
        self.at.append(time.monotonic())
        return []


def test_a_woken_runner_looks_at_once_and_an_unwoken_one_waits_for_its_poll(monkeypatch):
    """With a poll of 60 s, a runner left alone looks once; woken, it looks again at once."""
    monkeypatch.setattr(jobs, "POLL", 60.0)
    layout = Layout(lab="job-wake-test", topology=Topology.default(2), prefix="127.0.250")
    mediator = SimpleNamespace(membership=SimpleNamespace(quorum=True))

    async def scenario() -> tuple[int, int]:
        runner = jobs.JobRunner(layout, "node1", mediator)  # type: ignore[arg-type]
        runner.store = looks = Looks()  # type: ignore[assignment]
        task = asyncio.ensure_future(runner.run())
        while not looks.at:
            await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)
        alone = len(looks.at)
        runner.wake()
        deadline = time.monotonic() + 20  # far from the 60 s poll, whatever the machine's load
        while len(looks.at) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        task.cancel()
        return alone, len(looks.at)

    alone, woken = asyncio.run(scenario())
    assert alone == 1, "left alone, the runner looked again before its poll"
    assert woken == 2, "woken, the runner did not look again before its 60 s poll"
