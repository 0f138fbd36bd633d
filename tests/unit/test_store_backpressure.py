"""A Cassandra node applying backpressure makes the driver refuse to queue a statement
(ConnectionBusy) and, with the other replica down, give up at once with NoHostAvailable. The
file store waits that out and sends the statement again: nothing was sent, so nothing can be
applied twice. Any other error is the answer at once, and a node that stays busy past
BUSY_WAIT is reported with what the driver met there."""

from __future__ import annotations

import pytest
from cassandra import ConsistencyLevel, Unavailable
from cassandra.cluster import NoHostAvailable
from cassandra.connection import ConnectionBusy

from labkit.cassandra import store
from labkit.cassandra.store import FileStore, NotEnoughReplicas, never_sent


class Host:
    address = "10.213.1.11"


def busy() -> NoHostAvailable:
    return NoHostAvailable("Unable to complete the operation against any hosts",
                           {Host(): ConnectionBusy("Connection 10.213.1.11:9042 is overloaded")})


class Answer:
    """A ResponseFuture that has already failed or succeeded."""

    def __init__(self, outcome: object) -> None:
        self.outcome = outcome

    def add_callbacks(self, ok, failed) -> None:  # noqa: ANN001
        if isinstance(self.outcome, BaseException):
            failed(self.outcome)
        else:
            ok(self.outcome)


class Session:
    def __init__(self, outcomes: list[object]) -> None:
        self.outcomes, self.sent = outcomes, 0

    def _next(self) -> object:
        self.sent += 1
        return self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]

    def execute_async(self, bound: object) -> Answer:
        return Answer(self._next())

    def execute(self, bound: object) -> object:
        outcome = self._next()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Statement:
    def bind(self, args: tuple) -> Statement:
        return self


def a_store(outcomes: list[object]) -> FileStore:
    fs = object.__new__(FileStore)
    fs.s = Session(outcomes)
    fs.replicas = lambda bound: [("node1", True), ("node2", False)]
    return fs


def test_only_a_statement_no_host_was_sent_counts_as_never_sent():
    assert never_sent(busy())
    assert not never_sent(NoHostAvailable("x", {Host(): OSError("refused")}))
    assert not never_sent(NoHostAvailable("x", {}))
    assert not never_sent(Unavailable("x", alive_replicas=1, required_replicas=2))


@pytest.mark.parametrize("way", ["async", "sync"])
def test_a_busy_node_is_waited_for_and_the_statement_sent_again(way):
    fs = a_store([busy(), busy(), busy(), ["row"]])
    if way == "async":
        rows = fs._async(Statement(), (), ConsistencyLevel.ONE, "writing chunk 5").result(5)
    else:
        rows = fs._run(Statement(), (), ConsistencyLevel.ONE, "writing chunk 5")
    assert rows == ["row"] and fs.s.sent == 4


@pytest.mark.parametrize("way", ["async", "sync"])
def test_a_node_busy_past_the_wait_is_an_error_that_says_what_the_driver_met(way, monkeypatch):
    monkeypatch.setattr(store, "BUSY_WAIT", 0.2)
    fs = a_store([busy()])
    with pytest.raises(NotEnoughReplicas) as err:
        if way == "async":
            fs._async(Statement(), (), ConsistencyLevel.ONE, "writing chunk 5").result(5)
        else:
            fs._run(Statement(), (), ConsistencyLevel.ONE, "writing chunk 5")
    assert "node2 is down" in str(err.value) and "10.213.1.11: ConnectionBusy" in str(err.value)
    assert fs.s.sent > 1


def test_any_other_error_is_the_answer_at_once():
    fs = a_store([Unavailable("x", consistency=ConsistencyLevel.QUORUM, alive_replicas=1,
                              required_replicas=2)])
    with pytest.raises(NotEnoughReplicas, match="needs 2 of the replicas"):
        fs._async(Statement(), (), ConsistencyLevel.QUORUM, "writing chunk 5").result(5)
    assert fs.s.sent == 1
