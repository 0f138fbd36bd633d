"""Faults on links between compose containers, measured with real traffic between them.

Every check sends real TCP connections or UDP datagrams from one node container to another
(`docker exec`), so a rule that is not at work delivers everything and fails the check. Probes run
between node3 and node4 (app servers only) where they can, so the database pairs on node1/node2
see as little of them as possible; the partition, the last, splits those pairs too.
"""

from __future__ import annotations

import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from labkit.errors import LabError
from tests.integration.db_helpers import wait_until

pytestmark = pytest.mark.lab

RECEIVE = r"""
import os, socket, sys, time
port, ready, done = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
s.settimeout(0.1)
open(ready, "w").close()
n, quiet, deadline = 0, None, time.time() + 120
while time.time() < deadline:
    try:
        s.recv(4096)
        n += 1
    except socket.timeout:
        pass
    if quiet is None and os.path.exists(done):
        quiet = time.time() + 1.0  # whatever is still on its way has a second to arrive
    if quiet is not None and time.time() > quiet:
        break
print(n)
"""

SEND = r"""
import socket, sys, time
addr, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(n):
    s.sendto(b"x" * size, (addr, port))
    time.sleep(0.002)
"""

CONNECT = r"""
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError as exc:
    print(exc)
    sys.exit(1)
"""


STAMPED = r"""
import socket, sys, time
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(n):
    s.sendto(repr(time.time()).encode(), (addr, port))
    time.sleep(0.01)
"""

#: RECEIVE, printing how late each datagram arrived instead of how many did (ms from the time it
#: carries: the containers share this machine's clock)
LATENESS = RECEIVE.replace("s.recv(4096)", "stamp = float(s.recv(4096))\n"
                           "        late.append((time.time() - stamp) * 1000)").replace(
    "n, quiet, deadline = 0,", "late, n, quiet, deadline = [], 0,").replace(
    "print(n)", 'print(" ".join(f"{ms:.1f}" for ms in late))')


def _over_udp(lab, src: str, dst: str, receiver: str, sender: list[str]) -> str:
    """What `receiver` (a script run in dst's container, given a port and its ready and done
    files) printed once `sender` (run in src's, given dst's address and the port) had sent."""
    rx, tx = lab.backend.container(dst), lab.backend.container(src)
    tag = uuid.uuid4().hex[:8]
    ready, done, port = f"/tmp/lk-ready-{tag}", f"/tmp/lk-done-{tag}", random.randint(20000, 29999)
    got: dict = {}
    receiving = threading.Thread(target=lambda: got.update(
        res=rx.exec_run(["python", "-c", receiver, str(port), ready, done])))
    receiving.start()
    try:
        wait_until(lambda: rx.exec_run(["test", "-e", ready]).exit_code == 0, 30,
                   f"a UDP receiver in {dst}")
        sent = tx.exec_run(["python", "-c", sender[0], lab.layout.address(dst), str(port),
                            *sender[1:]])
        assert sent.exit_code == 0, sent.output
    finally:
        rx.exec_run(["touch", done])
        receiving.join(60)
    assert got["res"].exit_code == 0, got["res"].output
    return got["res"].output.decode()


def udp_delivered(lab, src: str, dst: str, n: int = 100, size: int = 64) -> int:
    """How many of `n` UDP datagrams sent from src's container reach a socket in dst's."""
    return int(_over_udp(lab, src, dst, RECEIVE, [SEND, str(n), str(size)]).split()[-1])


def lateness(lab, src: str, dst: str, n: int = 40) -> list[float]:
    """How late (ms) each of `n` UDP datagrams sent from src's container arrived in dst's."""
    return [float(ms) for ms in _over_udp(lab, src, dst, LATENESS, [STAMPED, str(n)]).split()]


def tcp_connects(lab, src: str, dst: str) -> bool:
    """A TCP connection from src's container completes to dst's app server (2 s to try)."""
    res = lab.backend.container(src).exec_run(
        ["python", "-c", CONNECT, lab.layout.address(dst), str(lab.layout.ports.app)])
    return res.exit_code == 0


def table(lab, node: str) -> str:
    """The node container's `links` table as nftables lists it, counters left out ('' if none)."""
    res = lab.backend.container(node).exec_run(["nft", "list", "table", "inet", "links"])
    if res.exit_code != 0:
        return ""
    return re.sub(r"counter packets \d+ bytes \d+ ", "", res.output.decode())


def labkit_cli(lab, *args: str) -> subprocess.CompletedProcess:
    """The `labkit` command, as a learner types it, on the test lab (what it says, on stdout
    and stderr alike, in `stdout`)."""
    return subprocess.run([str(Path(sys.executable).parent / "labkit"), *args, "--lab",
                           lab.layout.lab], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env={**os.environ, "COLUMNS": "300"}, timeout=120)


def test_a_cut_link_stops_tcp_and_udp_between_those_two_only_and_heal_restores_it(lab):
    assert tcp_connects(lab, "node3", "node4") and udp_delivered(lab, "node3", "node4") == 100
    cut = labkit_cli(lab, "cut", "node3", "node4")
    assert cut.returncode == 0, cut.stdout
    assert "dropped by the receiving container" in cut.stdout
    assert {(f["src"], f["dst"]) for f in lab.links()} == {("node3", "node4"), ("node4", "node3")}
    assert "ip saddr " + lab.layout.address("node3") in table(lab, "node4")
    assert "ip saddr " + lab.layout.address("node4") in table(lab, "node3")
    assert table(lab, "node1") == ""  # no fault arrives there: no table at all

    assert not tcp_connects(lab, "node3", "node4") and not tcp_connects(lab, "node4", "node3")
    assert udp_delivered(lab, "node3", "node4") == 0
    assert udp_delivered(lab, "node4", "node3") == 0
    # each keeps its other links, and the host still reaches both
    assert tcp_connects(lab, "node3", "node1") and tcp_connects(lab, "node4", "node2")
    assert udp_delivered(lab, "node1", "node4") == 100
    for node in ("node3", "node4"):
        assert httpx.get(lab.layout.app_url(node) + "/api/node", timeout=2,
                         auth=lab.auth()).status_code == 200
    status = lab.status()
    assert "receiving container" in status["link_faults"] and len(status["links"]) == 2
    shown = labkit_cli(lab, "links")
    assert "node3 → node4: cut" in shown.stdout and "node4 → node3: cut" in shown.stdout

    healed = labkit_cli(lab, "heal")
    assert "healed 2 link fault(s)" in healed.stdout, healed.stdout
    assert lab.links() == [] and table(lab, "node3") == "" and table(lab, "node4") == ""
    assert tcp_connects(lab, "node3", "node4") and tcp_connects(lab, "node4", "node3")
    assert udp_delivered(lab, "node3", "node4") == 100
    assert udp_delivered(lab, "node4", "node3") == 100


def test_a_one_way_cut_drops_one_direction_only(lab):
    lab.cut("node3", "node4", one_way=True)
    try:
        assert udp_delivered(lab, "node3", "node4", 200) == 0
        assert udp_delivered(lab, "node4", "node3", 200) == 200
        # a handshake needs both ways: no TCP connection completes either way
        assert not tcp_connects(lab, "node3", "node4") and not tcp_connects(lab, "node4", "node3")
        assert table(lab, "node3") == ""  # the rule is at the receiver only
    finally:
        lab.heal()
    assert udp_delivered(lab, "node3", "node4", 200) == 200


def test_a_half_lossy_link_delivers_a_binomial_share_and_everything_after_heal(lab):
    lab.impair("node3", "node4", loss="50%", one_way=True)
    try:
        share = udp_delivered(lab, "node3", "node4", 400)
        assert 120 <= share <= 280, share  # Binomial(400, 0.5): 200 ± 10 is one sd
        assert udp_delivered(lab, "node4", "node3", 400) == 400
    finally:
        lab.heal()
    assert udp_delivered(lab, "node3", "node4", 400) == 400


def test_a_slow_link_drops_what_exceeds_its_rate(lab):
    lab.impair("node3", "node4", rate="400kbit", one_way=True)  # 50 000 bytes a second
    try:
        assert "limit rate over 50000 bytes/second" in table(lab, "node4")
        # 300 datagrams of 1000 bytes in at least 0.6 s: 300 000 bytes where ~30-60 kB may pass
        passed = udp_delivered(lab, "node3", "node4", 300, size=1000)
        assert 0 < passed < 200, passed
    finally:
        lab.heal()
    assert udp_delivered(lab, "node3", "node4", 300, size=1000) == 300


def test_a_bad_link_fault_is_one_clear_error_and_changes_nothing(lab):
    lab.cut("node3", "node4", one_way=True)
    try:
        before_links, before_tables = lab.links(), {n: table(lab, n) for n in ("node3", "node4")}
        for bad, says in [(lambda: lab.cut("node3", "node9"), "no node 'node9'"),
                          (lambda: lab.cut("node4", "node4"), "two different nodes"),
                          (lambda: lab.impair("node3", "node4", loss="120%"), "not a share"),
                          (lambda: lab.impair("node3", "node4", rate="fast"), "not a bit rate"),
                          (lambda: lab.partition("node1 / node1,node2"), "on two sides")]:
            with pytest.raises(LabError, match=says):
                bad()
        refused = labkit_cli(lab, "link", "node3", "node4", "--delay", "soon")
        assert refused.returncode != 0 and "not a time" in refused.stdout
        assert lab.links() == before_links
        assert {n: table(lab, n) for n in ("node3", "node4")} == before_tables
        assert udp_delivered(lab, "node4", "node3") == 100  # the direction left alone
        assert udp_delivered(lab, "node3", "node4") == 0  # the one cut before, still cut
    finally:
        lab.heal()


def delay_chain(lab, node: str) -> str:
    """The node container's late-link chain as iptables lists it ('' if there is none)."""
    res = lab.backend.container(node).exec_run(["iptables", "-S", "LABKIT-DELAY"])
    return res.output.decode() if res.exit_code == 0 else ""


def test_a_late_link_holds_each_frame_back_in_the_receiver_one_way_and_heal_ends_it(lab):
    on_time = lateness(lab, "node3", "node4")
    assert len(on_time) == 40 and statistics.median(on_time) < 50, on_time
    lab.impair("node3", "node4", delay="100ms", jitter="20ms", one_way=True)
    try:
        assert "held back in the receiving container by its delayer" in \
            lab.events()[-1]["message"]
        assert "NFQUEUE" in delay_chain(lab, "node4") and "NFQUEUE" not in delay_chain(
            lab, "node3")
        late = lateness(lab, "node3", "node4")  # the first sent as soon as impair returned
        assert len(late) == 40, "a late link loses nothing"
        assert min(late) >= 80, late  # no datagram before delay − jitter, not even the first
        assert max(late) - min(late) >= 10, late  # the jitter spreads them
        assert statistics.median(late) < 100 + 150, late  # the delayer adds little of its own
        back = lateness(lab, "node4", "node3")
        assert statistics.median(back) < 50, back  # the other direction is on time
        assert tcp_connects(lab, "node3", "node4")  # TCP still works, only later
        since = time.time()
        lab.fail("node4", "crash")
        lab.recover("node4")  # a new network namespace: the entry point queues them again
        assert [e["ok"] for e in lab.events(since) if e["kind"] == "link_restore"] == [True]
        assert min(lateness(lab, "node3", "node4", n=20)) >= 80
    finally:
        lab.heal()
    assert "NFQUEUE" not in delay_chain(lab, "node4")
    assert statistics.median(lateness(lab, "node3", "node4")) < 50


def test_a_flapping_link_carries_about_half_the_time_and_heal_ends_it(lab):
    lab.impair("node3", "node4", flap="1s", one_way=True)  # cut 0.5 s, up 0.5 s, ...
    try:
        # node4's own `links` program switches its rule: about 2 s of sending, some four
        # switches; never switched would deliver 0 or 1000
        got = udp_delivered(lab, "node3", "node4", n=1000)
        assert 100 <= got <= 900, got
    finally:
        lab.heal()
    assert udp_delivered(lab, "node3", "node4") == 100


def test_a_restarted_container_gets_its_link_rules_back(lab):
    lab.cut("node3", "node4", one_way=True)  # the one rule is node4's: nothing else cuts it
    try:
        since = time.time()
        lab.fail("node4", "crash")
        lab.recover("node4")  # a new container start: a new network namespace
        restored = [e for e in lab.events(since) if e["kind"] == "link_restore"]
        assert [(e["node"], e["ok"]) for e in restored] == [("node4", True)]
        assert "ip saddr " + lab.layout.address("node3") in table(lab, "node4")
        assert udp_delivered(lab, "node3", "node4") == 0
        assert not tcp_connects(lab, "node3", "node4")
        assert udp_delivered(lab, "node4", "node3") == 100
    finally:
        lab.heal()
    assert tcp_connects(lab, "node3", "node4")


def test_a_frozen_container_gets_its_rules_though_it_takes_no_exec(lab):
    lab.fail("node4", "freeze")
    # a paused container's kernel still completes a handshake into its listener's backlog
    assert tcp_connects(lab, "node3", "node4")
    lab.cut("node3", "node4", one_way=True)  # the one rule is the frozen node4's
    try:
        assert not tcp_connects(lab, "node3", "node4")
        helpers = lab.backend.engine.containers.list(
            all=True, filters={"label": "labkit.links-helper"})
        assert helpers == []  # the helper that wrote them is gone
        lab.recover("node4")
        assert "ip saddr " + lab.layout.address("node3") in table(lab, "node4")
        assert not tcp_connects(lab, "node3", "node4")
    finally:
        lab.heal()
    assert tcp_connects(lab, "node3", "node4")


def test_a_partition_leaves_each_side_talking_within_itself(lab):
    sides = [["node1", "node3"], ["node2", "node4"]]
    lab.partition("node1,node3 / node2,node4")
    try:
        links = {(f["src"], f["dst"]) for f in lab.links()}
        assert links == {(a, b) for i, side in enumerate(sides) for a in side
                         for b in sides[1 - i]}
        for side in sides:
            a, b = side
            assert tcp_connects(lab, a, b) and tcp_connects(lab, b, a)
            assert udp_delivered(lab, a, b) == 100
        for a, b in sorted(links):
            assert not tcp_connects(lab, a, b), f"{a} → {b} still connects"
        assert udp_delivered(lab, "node1", "node2") == 0
        assert udp_delivered(lab, "node4", "node3") == 0
    finally:
        lab.heal()
    for a, b in sorted(links):
        assert tcp_connects(lab, a, b), f"{a} → {b} does not connect after heal"
    assert json.loads(lab.layout.paths.links.read_text()) == []
