"""Issue #18, PostgreSQL: no acknowledged write lost when the standby was away before the primary
failed (a Jepsen-style sequence against the real servers).

The standby freezes under a steady write load; the primary stops waiting for it (after
wal_sender_timeout) and goes on acknowledging commits alone; then the primary crashes and the
standby thaws. The standby lacks those commits, so it must not take over: the lab says why and
waits for the old primary, and once that one is back every acknowledged row is there. (Without
the guard the standby promoted, and pg_rewind later discarded the old primary's commits.)

A small lab of its own: the two PostgreSQL nodes carry nothing else, so freezing and crashing
them leaves the load balancer and the shared lab alone.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import running_lab
from tests.integration.db_helpers import lone_pair_topology, pg_pair, wait_until

pytestmark = pytest.mark.lab

FROZEN_FOR = 15.0  # seconds: well past wal_sender_timeout (5 s), so the primary goes on alone


@pytest.fixture(scope="module")
def pg_lab(labkit_home):
    with running_lab("pytest-pgloss", lambda _c: None,
                     topology=lone_pair_topology("postgres")) as cluster:
        yield cluster


def refusal_or_promotion(lab, standby: str, since: float) -> str | None:
    """'refused' once the standby said it will not take over, 'promoted' once it did."""
    if [e for e in lab.events(since) if e["kind"] == "postgres_wait"
            and e.get("node") == standby and "committed alone" in e.get("message", "")]:
        return "refused"
    if lab.postgres.active() == standby:
        return "promoted"
    return None


def test_standby_outage_then_primary_crash_loses_no_acknowledged_write(pg_lab):
    lab = pg_lab
    primary, standby = pg_pair(lab)
    load = lab.postgres.write_load(rate=20)
    wait_until(lambda: len(load.acked) >= 20, 30, "20 acknowledged rows before the faults")
    since = time.time()

    lab.fail(standby, "freeze")
    before = len(load.acked)
    time.sleep(FROZEN_FOR)
    alone = len(load.acked) - before  # acknowledged while the standby could not have them
    lab.fail(primary, "crash")
    lab.recover(standby)  # thaw

    outcome = wait_until(lambda: refusal_or_promotion(lab, standby, since), 60,
                         f"{standby} either promoted or said why it will not")
    lab.recover(primary)
    pg_pair(lab)
    count = len(load.acked)
    wait_until(lambda: len(load.acked) >= count + 10, 60, "writes resuming after the recovery")
    load.stop()

    with lab.postgres.connect() as conn:
        missing = load.missing(conn)
    print(f"outcome={outcome} acked={len(load.acked)} acked_while_alone={alone} "
          f"missing={len(missing)}")
    assert alone > 0, "the primary never acknowledged a commit alone: the sequence did not run"
    assert not missing, (f"{len(missing)} of {len(load.acked)} acknowledged rows lost "
                         f"({standby} {outcome}; {alone} acknowledged while it was frozen)")
    assert outcome == "refused"
    assert lab.postgres.active() == primary


def test_a_primary_thawed_after_its_standby_took_over_acknowledges_nothing_lost(pg_lab):
    """#18 item 4: the frozen primary resumes with commits waiting for a standby that has been
    promoted meanwhile; it must be fenced, never relax synchronous replication for them."""
    lab = pg_lab
    primary, standby = pg_pair(lab)
    load = lab.postgres.write_load(rate=20)
    wait_until(lambda: len(load.acked) >= 20, 30, "20 acknowledged rows before the fault")
    since = time.time()
    lab.fail(primary, "freeze")
    wait_until(lambda: lab.postgres.active() == standby, 60, f"{standby} promoted")
    lab.recover(primary)  # thaw: it wakes up believing it is still the primary
    pg_pair(lab)
    count = len(load.acked)
    wait_until(lambda: len(load.acked) >= count + 10, 60, f"writes going on at {standby}")
    load.stop()

    with lab.postgres.connect() as conn:
        missing = load.missing(conn)
    assert not missing, f"{len(missing)} of {len(load.acked)} acknowledged rows lost"
    assert lab.postgres.active() == standby
    relaxed = [e for e in lab.events(since) if e["kind"] == "postgres_alone"
               and e.get("node") == primary]
    assert not relaxed, f"the replaced primary went on alone: {relaxed}"
