"""An isolated standby must not take over, and the active keeps serving writes.

(On the compose backend an isolated node reaches no other node and says it is the one cut off;
on the local backend isolation drops the traffic *to* the node, so it still hears its peer.)"""

from __future__ import annotations

import time

import pytest

from tests.integration.db_helpers import pair, wait_until

pytestmark = pytest.mark.lab


def test_an_isolated_standby_keeps_its_hands_off_both_pairs(lab):
    pair(lab)
    tiers = {"mysql": lab.mysql, "postgres": lab.postgres}
    actives = {name: wait_until(tier.active, 60, f"a {name} active") for name, tier in
               tiers.items()}
    standbys = {name: wait_until(tier.standby, 60, f"a {name} standby") for name, tier in
                tiers.items()}
    for node in sorted(set(standbys.values())):
        t0 = time.time()
        lab.fail(node, "isolate")
        time.sleep(8)  # well past both watchers' failover delay (3 s)
        for name, tier in tiers.items():
            assert tier.active() == actives[name], f"{name} failed over to the isolated {node}"
        with lab.mysql.connect() as conn, conn.cursor() as cur:  # the active still takes writes
            cur.execute("INSERT INTO writes (client, seq, created) VALUES ('isolation', %s, %s)",
                        (int(t0), time.time()))
        promoted = [e["message"] for e in lab.events(since=t0)
                    if e.get("node") == node and "promoted" in e.get("message", "")]
        assert promoted == []
        lab.recover(node)
        wait_until(lambda: pair(lab) == (actives["mysql"], standbys["mysql"]), 90,
                   "the MySQL pair whole again")
