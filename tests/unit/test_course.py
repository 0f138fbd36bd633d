"""The lessons' predictions and hidden checks (issue 15): a prediction is fixed once committed,
a check passes the right answer and fails wrong ones with a hint, progress is kept per lab."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit.devices.jobs import WORKERS
from labkit.topology import Topology
from labkit.ui.course import Prediction, Progress, check


@pytest.fixture
def lab():
    return SimpleNamespace(layout=SimpleNamespace(topology=Topology.default()))


def test_the_master_down_check_passes_the_right_answer(lab, tmp_path):
    progress = Progress(tmp_path / "progress.json")
    verdict = check("01", "master_down", 0.6 + 166 * 0.2 / 256, lab, progress)  # 0.2 s adverts
    assert verdict.passed and "right" in verdict.text
    assert progress.read()["01"]["checks"]["master_down"]["value"] is True


@pytest.mark.parametrize("answer, hint", [
    (0.6, "three adverts and then its skew time"),
    (0.1297, "skew time alone"),  # the default backup, node2, has priority 90
    (1.8242, "three advert intervals plus the skew time"),  # at the 0.5 s adverts of old
    (10, "three advert intervals plus the skew time"),
    ("0.73", "give a number"),
    (None, "write your answer"),
])
def test_the_master_down_check_fails_wrong_answers_with_a_hint(lab, answer, hint):
    verdict = check("01", "master_down", answer, lab)
    assert not verdict.passed and hint in verdict.text


def test_a_check_that_does_not_exist_says_so_plainly(lab, tmp_path):
    (tmp_path / "99.py").write_text("def q(answer, lab):\n    return 1 / 0\n")
    assert "could not be checked (ZeroDivisionError" in check("99", "q", 1, lab,
                                                               folder=tmp_path).text
    with pytest.raises(LookupError):
        check("99", "nope", 1, lab, folder=tmp_path)


def test_a_prediction_is_fixed_once_committed_and_compared(tmp_path):
    progress = Progress(tmp_path / "progress.json")
    p = Prediction("01", "gap", "How long?", ["under 1 s", "1–3 s"], progress)
    p.choose("1–3 s")
    p.choose("under 1 s")  # too late: committed
    assert p.answer == "1–3 s" and p.picker.disabled
    assert p.reveal("1–3 s").startswith("✔")
    assert p.reveal("under 1 s") == "You predicted 1–3 s; it was under 1 s."
    assert progress.read()["01"]["predictions"]["gap"]["value"] == "1–3 s"


def test_no_prediction_is_said_plainly():
    p = Prediction("01", "gap", "How long?", ["a", "b"])
    p.choose(None)
    assert p.answer is None and "pick one" in p.said.value
    assert "did not commit" in p.reveal("a")
    with pytest.raises(ValueError):
        p.reveal("c")


# -- lesson 02: the numbers come from the balancer's real template -----------------------------
def httpd_lab(tmp_path: Path, lb: dict | None = None) -> SimpleNamespace:
    """A lab whose httpd.conf is the real template, rendered for the default topology with
    these `lb:` timers."""
    import labkit.lb.apache
    from labkit import templating

    topology = Topology.from_dict(Topology.default().to_dict() | {"lb": lb or {}})
    conf = tmp_path / "httpd.conf"
    conf.write_text(templating.render(
        labkit.lb.apache.__file__, "httpd.conf.j2", node="node1", root=tmp_path, modules=[],
        module_dir=tmp_path, as_root=False, log_dir=tmp_path, addresses=["127.0.1.11"],
        ports=SimpleNamespace(http=8080, https=8443, app=8000), lab_net="127.0.1.0/24",
        members=[{"address": f"127.0.1.{10 + i}", "route": n.name}
                 for i, n in enumerate(topology.with_role("app"), 1)],
        tls=tmp_path, body_limit=1, htpasswd=tmp_path / "htpasswd", upload_limit=2,
        backend_ttl=20, keep_alive=30, lb=topology.lb, slow_routes=labkit.lb.apache.SLOW_ROUTES))
    return SimpleNamespace(layout=SimpleNamespace(topology=topology),
                           config_files=lambda target: {"httpd.conf": conf})


@pytest.fixture
def lab_with_httpd(tmp_path):
    """The default lab's balancer: hcinterval=200ms, timeout=1."""
    return httpd_lab(tmp_path)


@pytest.fixture
def lab_with_slow_timers(tmp_path):
    """A balancer with Apache's older lab timers (hcinterval 1 s, timeout 5 s): far enough
    apart that every wrong answer has its own hint."""
    return httpd_lab(tmp_path, {"health_check_interval": 1, "member_timeout": 5})


def test_the_lessons_read_the_members_settings_from_the_running_config(lab_with_httpd):
    """Of `balancer://app`, the balancer of /api/node; app-slow's longer timeout is not read."""
    from labkit.ui.lesson import member_settings

    s = member_settings(lab_with_httpd)
    assert s["lbmethod"] == "byrequests" and s["stickysession"] == "JSESSIONID|jsessionid"
    assert (s["hcinterval"], s["hcfails"], s["timeout"], s["connectiontimeout"], s["retry"]) == \
        ("200ms", "1", "1", "1", "1")


@pytest.mark.parametrize("name, answer", [("shares", 10), ("shares", 10.0),
                                          ("frozen_wait", 1), ("taken_out", 1.2)])
def test_lesson_02_checks_pass_the_right_answer(lab_with_httpd, name, answer):
    assert check("02", name, answer, lab_with_httpd).passed


@pytest.mark.parametrize("name, answer, hint", [
    ("frozen_wait", 1.2, "health check takes the member out"),
    ("frozen_wait", 0.2, "hcinterval is how often"),
    ("taken_out", 1, "at worst a check has just passed"),
    ("taken_out", 0.2, "makes it wait before it fails"),
])
def test_lesson_02_checks_tell_the_default_timers_apart(lab_with_httpd, name, answer, hint):
    """timeout=1 and hcinterval + timeout = 1.2 s are a fifth of a second apart: still two
    different answers."""
    verdict = check("02", name, answer, lab_with_httpd)
    assert not verdict.passed and hint in verdict.text


@pytest.mark.parametrize("name, answer", [("frozen_wait", 5), ("taken_out", 6)])
def test_lesson_02_checks_read_the_labs_own_timers(lab_with_slow_timers, name, answer):
    assert check("02", name, answer, lab_with_slow_timers).passed


@pytest.mark.parametrize("name, answer, hint", [
    ("shares", 7.5, "gets no turn at all"),
    ("shares", 30, "all of them on one server"),
    ("shares", 3, "count the usable members"),
    ("shares", "10", "give a number"),
    ("frozen_wait", 1, "connectiontimeout bounds only the TCP connect"),
    ("frozen_wait", 6, "health check takes the member out"),
    ("frozen_wait", 0, "cannot tell a frozen member"),
    ("frozen_wait", 30, "bounds how long Apache waits"),
    ("taken_out", 5, "at worst a check has just passed"),
    ("taken_out", 1, "makes it wait before it fails"),
    ("taken_out", None, "write your answer"),
])
def test_lesson_02_checks_fail_wrong_answers_with_a_hint(lab_with_slow_timers, name, answer, hint):
    verdict = check("02", name, answer, lab_with_slow_timers)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text


# -- lesson 03 --------------------------------------------------------------------------------
def test_the_route_check_passes_a_function_that_reads_the_route(lab):
    def route_of(cookie):
        return cookie.split(".", 1)[1] if "." in cookie else None

    assert check("03", "route_of", route_of, lab).passed


@pytest.mark.parametrize("answer, hint", [
    (lambda c: c.split(".")[0], "that is the session id"),
    (lambda c: c, "that is the whole cookie"),
    (lambda c: c.split(".")[-1], "names no member"),
    (lambda c: "node4", "should give the route"),
    (lambda c: c.split(".")[1], "IndexError"),  # a crash in the learner's function is a hint
    ("node3", "write a function"),
])
def test_the_route_check_fails_wrong_functions_with_a_hint(lab, answer, hint):
    verdict = check("03", "route_of", answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text


# -- the balancer-manager, as lessons 02 and 03 read it ----------------------------------------
#: the balancer-manager page of a running lab (Apache 2.4), node4's status as it read once the
#: health check had failed the frozen node4
BALANCER_MANAGER = (Path(__file__).parent / "balancer_manager.html").read_text()


def test_the_balancer_manager_page_reads_as_members_by_route():
    from labkit.ui.lesson import parse_balancer_manager

    members = parse_balancer_manager(BALANCER_MANAGER)
    assert set(members) == {"node1", "node2", "node3", "node4"}
    assert members["node1"] == {"url": "http://127.0.1.11:8000", "status": "Init Ok",
                                "elected": 1, "busy": 0, "usable": True}
    assert members["node4"]["status"] == "Init HcFl" and not members["node4"]["usable"]


def test_the_balancer_manager_is_read_for_the_balancer_asked_for_in_any_order():
    """The page lists balancer://app and balancer://app-slow in no fixed order (app-slow came
    first on a running lab): each is found by its heading, never by its place."""
    from labkit.ui.lesson import parse_balancer_manager

    start = BALANCER_MANAGER.index("<h3>LoadBalancer Status for")
    end = BALANCER_MANAGER.index("</body>")
    slow = (BALANCER_MANAGER[start:end].replace(">balancer://app<", ">balancer://app-slow<")
            .replace("Init HcFl", "Init Err"))
    for page in (BALANCER_MANAGER[:start] + slow + BALANCER_MANAGER[start:],
                 BALANCER_MANAGER[:end] + slow + BALANCER_MANAGER[end:]):
        assert parse_balancer_manager(page)["node4"]["status"] == "Init HcFl"
        assert parse_balancer_manager(page, "app-slow")["node4"]["status"] == "Init Err"
    assert parse_balancer_manager(BALANCER_MANAGER, "app-slow") == {}


# -- lesson 04: the timers come from the watchers' modules -------------------------------------
#: the default lab's MySQL and PostgreSQL silence timers (1 s), which the `lab` fixture runs
AFTER = Topology.default().mysql.failover_after
PG_AFTER = Topology.default().postgres.failover_after


def _may(silent_for, caught_up, alone, reaches_others):
    return silent_for >= AFTER and caught_up and not alone and reaches_others


def _lost(load, conn):
    return load.missing(conn)


@pytest.mark.parametrize("name, answer", [
    # failover_after 1 s, POLL 0.5 s: up to 1 + 2 × 0.5 s of looks, up to a second of promotion
    ("worst_gap", AFTER + 1.0), ("worst_gap", AFTER + 0.5), ("worst_gap", AFTER + 2.0),
    ("may_take_over", _may),
    ("lost_rows", _lost),
    ("lost_rows", lambda load, conn: [s for s in load.acked
                                      if s not in {r["seq"] for r in conn.cursor().fetchall()}]),
])
def test_lesson_04_checks_pass_the_right_answer(lab, name, answer):
    verdict = check("04", name, answer, lab)
    assert verdict.passed, verdict.text


@pytest.mark.parametrize("name, answer, hint", [
    ("worst_gap", AFTER, "only looks every POLL"),
    ("worst_gap", AFTER + 3.0, "alone_after is the active's timer"),  # + alone_after
    ("worst_gap", 0.1, "does not make the failover instant"),
    ("worst_gap", 10, "Junos Space's own heartbeat"),
    ("worst_gap", 8, "add up the failover timer"),
    ("worst_gap", "4", "give a number"),
    ("may_take_over", lambda s, c, a, r: s >= AFTER, "went on alone"),
    ("may_take_over", lambda s, c, a, r: s >= AFTER and not a and r, "never caught up"),
    ("may_take_over", lambda s, c, a, r: s >= AFTER and c and not a, "third vote"),
    ("may_take_over", lambda s, c, a, r: c and not a and r, "failover_after seconds of silence"),
    ("may_take_over", lambda s, c, a, r: False, "or nobody takes writes"),
    ("may_take_over", lambda s, c, a, r: "yes", "return True or False"),
    ("may_take_over", True, "write a function"),
    ("lost_rows", lambda load, conn: len(load.missing(conn)), "not how many"),
    ("lost_rows", lambda load, conn: load.errors, "writes the server refused"),
    ("lost_rows", lambda load, conn: [4], "not lost"),
    ("lost_rows", lambda load, conn: load.acked, "every row the server acknowledged"),
    ("lost_rows", lambda load, conn: [1, 2, 4, 5, 6], "the rows the database has"),
    ("lost_rows", lambda load, conn: [], "does lack an acknowledged row"),
    ("lost_rows", lambda load, conn: None, "return a list"),
])
def test_lesson_04_checks_fail_wrong_answers_with_a_hint(lab, name, answer, hint):
    verdict = check("04", name, answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


# -- lesson 07: placement and the membership timeout, from the lab's own modules ---------------
def _least_loaded(counts, live):
    from labkit.devices.mediation import node_key

    return min(live, key=lambda n: (counts.get(n, 0), node_key(n)))


@pytest.mark.parametrize("name, answer", [
    ("least_loaded", _least_loaded),
    ("declared_dead", 3.0), ("declared_dead", 3.4), ("declared_dead", 2.6),
])
def test_lesson_07_checks_pass_the_right_answer(lab, name, answer):
    verdict = check("07", name, answer, lab)
    assert verdict.passed, verdict.text


def test_the_membership_timeout_check_follows_the_labs_topology():
    from labkit.topology import NodeSpec

    slow = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("lb", "app"))),
                    membership_timeout=10.0)
    lab = SimpleNamespace(layout=SimpleNamespace(topology=slow))
    assert check("07", "declared_dead", 10, lab).passed
    assert not check("07", "declared_dead", 3.0, lab).passed


@pytest.mark.parametrize("name, answer, hint", [
    ("least_loaded", lambda c, live: min(c, key=lambda n: (c[n], n)), "not in `live`"),
    ("least_loaded", lambda c, live: min(live, key=lambda n: (c[n], n)), "KeyError"),
    ("least_loaded", lambda c, live: min(live, key=lambda n: (c.get(n, 0), n)),
     "counting the digits as a number"),
    ("least_loaded", lambda c, live: max(live, key=lambda n: c.get(n, 0)), "the busiest node"),
    ("least_loaded", lambda c, live: min((n for n in live if n in c), key=lambda n: c[n]),
     "not in `counts` at all"),
    ("least_loaded", lambda c, live: 0, "return a node's name"),
    ("least_loaded", "node2", "write a function"),
    ("declared_dead", 0.5, "how often a heartbeat is sent"),
    ("declared_dead", 6, "counts heartbeats, not seconds"),
    ("declared_dead", 0, "may just be slow"),
    ("declared_dead", 60, "Junos Space's own figure"),
    ("declared_dead", 15, "which timer decides"),
    ("declared_dead", "3", "give a number"),
])
def test_lesson_07_checks_fail_wrong_answers_with_a_hint(lab, name, answer, hint):
    verdict = check("07", name, answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


@pytest.mark.parametrize("topology, owner, victim", [
    (Topology.default(), "node1", "node4"),     # the last app-only node
    (Topology.default(3), "node1", "node3"),
    (Topology.default(2), "node2", "node2"),    # losing node1 would leave node2 no quorum
    (Topology.default(2), "node1", "node2"),
])
def test_lessons_07_08_crash_a_node_whose_loss_leaves_a_quorum(topology, owner, victim):
    from labkit.ui.lesson import spare_app_node

    lab = SimpleNamespace(layout=SimpleNamespace(topology=topology),
                          status=lambda: {"vip": {"owner": owner}})
    assert spare_app_node(lab) == victim


def test_lessons_07_08_crash_nothing_on_a_lab_with_one_app_node():
    from labkit.topology import NodeSpec
    from labkit.ui.lesson import app_nodes, spare_app_node

    one = Topology(nodes=(NodeSpec("node1", ("lb", "app")), NodeSpec("node2", ("lb",))))
    lab = SimpleNamespace(layout=SimpleNamespace(topology=one),
                          status=lambda: {"vip": {"owner": "node1"}})
    assert app_nodes(lab) == ["node1"] and spare_app_node(lab) is None


# -- lesson 08: sub-jobs and the worker pool, from the lab's own modules -----------------------
def _subjobs(devices, assignments):
    out = {}
    for d in devices:
        out.setdefault(assignments[d], []).append(d)
    return out


def _resync_seconds(devices, nodes, latency):
    import math

    from labkit.devices.jobs import WORKERS

    return math.ceil(math.ceil(devices / nodes) / WORKERS) * latency


@pytest.mark.parametrize("name, answer", [("subjobs", _subjobs),
                                          ("resync_seconds", _resync_seconds)])
def test_lesson_08_checks_pass_the_right_answer(lab, name, answer):
    verdict = check("08", name, answer, lab)
    assert verdict.passed, verdict.text


def _per_node_share(devices, assignments):
    """Every node's whole share, not only the job's devices."""
    out = {}
    for d, n in assignments.items():
        out.setdefault(n, []).append(d)
    return out


def _empty_too(devices, assignments):
    return {n: [d for d in devices if assignments[d] == n] for n in set(assignments.values())
            | {"node99"}}


@pytest.mark.parametrize("name, answer, hint", [
    ("subjobs", lambda d, a: {"all": list(d)}, "one sub-job for everything"),
    ("subjobs", lambda d, a: {n: list(d) for n in set(a.values())}, "in two sub-jobs"),
    ("subjobs", _per_node_share, "did not ask for"),
    ("subjobs", lambda d, a: {a[x]: [x] for x in d}, "in no sub-job"),
    ("subjobs", _empty_too, "should get no sub-job"),
    ("subjobs", lambda d, a: list(d), "return a dict"),
    ("subjobs", lambda d, a: {n: 3 for n in a.values()}, "list of device names"),
    ("subjobs", [], "write a function"),
    ("resync_seconds", lambda d, n, lat: d * lat, "one device after the other"),
    ("resync_seconds", lambda d, n, lat: d / n * lat, "its worker pool"),
    ("resync_seconds", lambda d, n, lat: -(-d // n) * lat, "its worker pool"),
    ("resync_seconds", lambda d, n, lat: d / n / WORKERS * lat, "round up"),
    ("resync_seconds", lambda d, n, lat: -(-d // WORKERS) * lat, "one node doing everything"),
    ("resync_seconds", lambda d, n, lat: 1.0, "the biggest share"),
    ("resync_seconds", lambda d, n, lat: "soon", "return a number"),
])
def test_lesson_08_checks_fail_wrong_answers_with_a_hint(lab, name, answer, hint):
    verdict = check("08", name, answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


# -- lesson 10: reachability maps, checked on fresh random maps --------------------------------
def _third_vote(node, peer, reaches):
    return any(other in reaches[node] and node in reaches[other]
               for other in reaches if other not in (node, peer))


def _majority(node, reaches):
    talks = [o for o in reaches if o != node and o in reaches[node] and node in reaches[o]]
    return 1 + len(talks) > len(reaches) / 2


def _both(r, a, b):
    return b in r[a] and a in r[b]


@pytest.mark.parametrize("name, answer", [("third_vote", _third_vote), ("majority", _majority)])
def test_lesson_10_checks_pass_the_right_answer(lab, name, answer):
    for _ in range(5):  # fresh random maps every time: a right rule passes them all
        verdict = check("10", name, answer, lab)
        assert verdict.passed, verdict.text


def _mutating(node, peer, reaches):
    """Right, but empties the map it was given: the check's own copy must not change."""
    result = _third_vote(node, peer, reaches)
    reaches.clear()
    return result


@pytest.mark.parametrize("name, answer, hint", [
    ("third_vote", lambda n, p, r: any(_both(r, n, o) for o in r if o != n), "the peer"),
    ("third_vote", lambda n, p, r: any(o in r[n] for o in r if o not in (n, p)),
     "your frames arriving somewhere"),
    ("third_vote", lambda n, p, r: any(n in r[o] for o in r if o not in (n, p)),
     "hearing a node is not talking"),
    ("third_vote", lambda n, p, r: all(_both(r, n, o) for o in r if o not in (n, p)),
     "do not need every other node"),
    ("third_vote", lambda n, p, r: True, "reaches itself"),
    ("third_vote", lambda n, p, r: False, "nobody ever takes over"),
    ("third_vote", lambda n, p, r: n == "node1", "not on every map"),
    ("third_vote", lambda n, p, r: "yes", "return True or False"),
    ("third_vote", "node2", "write a function"),
    ("majority", lambda n, r: 1 + sum(_both(r, n, o) for o in r if o != n) >= len(r) / 2,
     "half is not a majority"),
    ("majority", lambda n, r: sum(_both(r, n, o) for o in r if o != n) > len(r) / 2,
     "own vote counts"),
    ("majority", lambda n, r: 1 + sum(o in r[n] for o in r if o != n) > len(r) / 2,
     "frames must pass both ways"),
    ("majority", lambda n, r: 1 + sum(n in r[o] for o in r if o != n) > len(r) / 2,
     "hearing a node is not getting its vote"),
    ("majority", lambda n, r: sum(_both(r, n, o) for o in r if o != n) > (len(r) - 1) / 2,
     "not of the others"),
    ("majority", lambda n, r: False, "talks with most of the lab"),
    ("majority", lambda n, r: len(r[n]) > 1, "not on every map"),
    ("majority", None, "write your answer"),
])
def test_lesson_10_checks_fail_wrong_answers_with_a_hint(lab, name, answer, hint):
    verdict = check("10", name, answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


def test_lesson_10_counting_votes_through_other_nodes_is_not_a_majority(lab):
    """A vote is not passed on: counting the whole connected group is wrong on a chain."""
    def through(node, reaches):
        seen, todo = {node}, [node]
        while todo:
            a = todo.pop()
            for b in reaches:
                if b not in seen and _both(reaches, a, b):
                    seen.add(b)
                    todo.append(b)
        return len(seen) > len(reaches) / 2

    verdict = check("10", "majority", through, lab)
    assert not verdict.passed and "not passed on" in verdict.text, verdict.text


def test_lesson_10_a_function_that_changes_the_map_does_not_fool_the_check(lab):
    assert check("10", "third_vote", _mutating, lab).passed


# -- the lab's own map, as lesson 10 reads it --------------------------------------------------
def test_reachability_follows_cuts_one_way_and_nodes_that_are_out():
    from labkit.links import LinkFault
    from labkit.ui.lesson import reachability

    topology = Topology.default(4)
    states = {"node1": "up", "node2": "up", "node3": "up", "node4": "isolated"}
    faults = [LinkFault("node1", "node2", cut=True), LinkFault("node1", "node3", loss=50.0)]
    cluster = SimpleNamespace(
        layout=SimpleNamespace(nodes=topology.nodes),
        backend=SimpleNamespace(node_state=states.get, links=lambda: faults))
    reaches = reachability(cluster)
    assert reaches["node1"] == {"node3"}  # cut to node2 (one way), lossy to node3 still reaches
    assert reaches["node2"] == {"node1", "node3"}  # the other direction still passes
    assert reaches["node4"] == set() and all("node4" not in r for r in reaches.values())


def _pairs(mysql, postgres):
    return SimpleNamespace(mysql=SimpleNamespace(status=lambda: mysql),
                           postgres=SimpleNamespace(status=lambda: postgres))


WHOLE_MYSQL = {"active": "node1", "standby": "node2", "alone": False, "instances": {
    "node1": {"role": "active"}, "node2": {"role": "standby", "sql_running": "Yes", "lag": 0}}}
WHOLE_PG = {"active": "node1", "standby": "node2", "alone": False, "instances": {
    "node1": {"role": "active"}, "node2": {"role": "standby", "streaming": True}}}


def test_pairs_whole_wants_a_caught_up_standby_and_no_active_alone():
    from labkit.ui.lesson import pairs_whole

    assert pairs_whole(_pairs(WHOLE_MYSQL, WHOLE_PG))
    assert pairs_whole(_pairs({"active": None, "instances": {}},
                              {"active": None, "instances": {}}))  # a lab without the pairs
    lagging = {**WHOLE_MYSQL, "instances": {**WHOLE_MYSQL["instances"], "node2": {
        "role": "standby", "sql_running": "Yes", "lag": 3}}}
    stopped = {**WHOLE_MYSQL, "instances": {**WHOLE_MYSQL["instances"], "node2": {
        "role": "standby", "sql_running": "No", "lag": None}}}
    for broken in (lagging, stopped, {**WHOLE_MYSQL, "alone": True},
                   {**WHOLE_MYSQL, "standby": None}, {**WHOLE_MYSQL, "standby": ["a", "b"]}):
        assert not pairs_whole(_pairs(broken, WHOLE_PG)), broken
    for broken in ({**WHOLE_PG, "alone": True}, {**WHOLE_PG, "standby": None},
                   {**WHOLE_PG, "instances": {"node2": {"streaming": False}}}):
        assert not pairs_whole(_pairs(WHOLE_MYSQL, broken)), broken


# -- lesson 05: an LSN's bytes, and the timers from the watcher's module ----------------------
def _lsn_bytes(lsn):
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@pytest.mark.parametrize("name, answer", [
    ("lsn_bytes", _lsn_bytes),
    ("lsn_bytes", lambda lsn: int(lsn.split("/")[0], 16) * 2**32 + int(lsn.split("/")[1], 16)),
    ("worst_gap", PG_AFTER + 1.0), ("worst_gap", PG_AFTER + 0.5), ("worst_gap", PG_AFTER + 2.0),
])
def test_lesson_05_checks_pass_the_right_answer(lab, name, answer):
    verdict = check("05", name, answer, lab)
    assert verdict.passed, verdict.text


@pytest.mark.parametrize("name, answer, hint", [
    ("lsn_bytes", lambda lsn: int(lsn.split("/")[1], 16), "the part after the slash alone"),
    ("lsn_bytes", lambda lsn: int(lsn.replace("/", ""), 16), "gluing the two halves"),
    ("lsn_bytes", lambda lsn: int(lsn.split("/")[0], 16), "the part before the slash alone"),
    ("lsn_bytes", lambda lsn: int(lsn.replace("/", "")), "hexadecimal"),
    ("lsn_bytes", lambda lsn: _lsn_bytes(lsn) / 1, "an int"),
    ("lsn_bytes", lambda lsn: _lsn_bytes(lsn) + 1, "two hexadecimal halves"),
    ("lsn_bytes", "0/3000148", "write a function"),
    ("worst_gap", PG_AFTER, "only looks every POLL"),
    ("worst_gap", 5.0 + 3.0 + 3.0, "add up the failover timer"),
    ("worst_gap", PG_AFTER + 5.0, "wal_sender_timeout is how long"),  # + wal_sender_timeout
    ("worst_gap", 0.2, "does not make the failover instant"),
    ("worst_gap", "4", "give a number"),
])
def test_lesson_05_checks_fail_wrong_answers_with_a_hint(lab, name, answer, hint):
    verdict = check("05", name, answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


def test_lesson_05_reads_the_replication_timeouts_from_the_real_config():
    import importlib.util

    from labkit.ui.course import CHECKS

    spec = importlib.util.spec_from_file_location("checks_05", CHECKS / "05.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.setting_seconds("wal_sender_timeout") == 5.0
    assert module.setting_seconds("wal_receiver_status_interval") == 1.0
    with pytest.raises(LookupError):
        module.setting_seconds("no_such_setting")


# -- lesson 06: consistency levels against the replication factor -----------------------------
def _works(level, rf, down):
    need = {"ONE": 1, "QUORUM": rf // 2 + 1, "ALL": rf}[level]
    return rf - down >= need


def _lab_with_ring(size):
    """The default lab's four nodes, with the `cassandra` role on the first `size` of them."""
    def roles(i):
        pair = ["lb", "app", "mysql", "postgres"] if i <= 2 else ["app"]
        return pair + (["cassandra"] if i <= size else [])

    nodes = {f"node{i}": {"roles": roles(i)} for i in range(1, 5)}
    return SimpleNamespace(layout=SimpleNamespace(topology=Topology.from_dict({"nodes": nodes})))


@pytest.mark.parametrize("ring, answer", [(2, "ONE"), (2, " one "), (1, "NONE"), (3, "ONE")])
def test_lesson_06_level_check_follows_the_labs_ring(ring, answer):
    assert check("06", "choose_level", answer, _lab_with_ring(ring)).passed


def test_lesson_06_works_check_passes_the_rule(lab):
    assert check("06", "works", _works, lab).passed


@pytest.mark.parametrize("name, answer, ring, hint", [
    ("works", lambda lv, rf, d: d == 0 or lv == "ONE" and d < rf, 2, "a strict majority"),
    ("works", lambda lv, rf, d: rf - d >= {"ONE": 1, "QUORUM": rf / 2, "ALL": rf}[lv], 2,
     "half is not enough"),
    ("works", lambda lv, rf, d: rf - d >= {"ONE": 1, "QUORUM": rf // 2 + 1, "ALL": 1}[lv], 2,
     "ALL waits for every replica"),
    ("works", lambda lv, rf, d: lv == "ONE" or d == 0, 2, "check ONE"),
    ("works", lambda lv, rf, d: "yes", 2, "return True or False"),
    ("works", "QUORUM", 2, "write a function"),
    ("choose_level", "QUORUM", 2, "count how many replicas QUORUM needs"),
    ("choose_level", "ALL", 2, "count how many replicas ALL needs"),
    ("choose_level", "NONE", 2, "some level succeeds"),
    ("choose_level", "ONE", 1, "count how many replicas ONE needs"),
    ("choose_level", "TWO", 2, "give one of"),
    ("choose_level", 1, 2, "give one of"),
])
def test_lesson_06_checks_fail_wrong_answers_with_a_hint(name, answer, ring, hint):
    verdict = check("06", name, answer, _lab_with_ring(ring))
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


# -- lesson 09: the lost-writes rule and the nines, checked on fresh random histories ----------
def _lost_writes(writes, final):
    present = set(final)
    return {element for element, outcome in writes if outcome == "ok" and element not in present}


def _nines(outcomes):
    import math

    down = sum(1 for o in outcomes if o != "ok") / len(outcomes)
    return math.inf if down == 0 else -math.log10(down)


@pytest.mark.parametrize("name, answer", [
    ("lost_writes", _lost_writes),
    ("lost_writes", lambda w, f: sorted(_lost_writes(w, f))),   # a list will do
    ("nines", _nines),
])
def test_lesson_09_checks_pass_the_right_answer(lab, name, answer):
    verdict = check("09", name, answer, lab)
    assert verdict.passed, verdict.text


@pytest.mark.parametrize("name, answer, hint", [
    ("lost_writes", lambda w, f: [e for e, _o in w if e not in f], "never acknowledged"),
    ("lost_writes", lambda w, f: [e for e, o in w if o == "ok" and f.count(e) != 1],
     "however many times it appears"),
    ("lost_writes", lambda w, f: [e for e, o in w if o == "ok"], "final read returned"),
    ("lost_writes", lambda w, f: [], "absent from the final read and not in your answer"),
    ("lost_writes", lambda w, f: [e for e, o in w if o == "ok" and e not in f] + ["x-0"],
     "not in `writes`"),
    ("lost_writes", lambda w, f: "none", "as a list or a set"),
    ("lost_writes", lambda w, f: None, "as a list or a set"),
    ("lost_writes", ["a-1"], "write a function"),
    ("nines", lambda o: o.count("ok") / len(o), "that is the availability"),
    ("nines", lambda o: 100 * o.count("ok") / len(o), "that is the availability"),
    ("nines", lambda o: -__import__("math").log10(o.count("fail") / len(o)) if "fail" in o
     else 9.0, "counts against availability"),
    ("nines", lambda o: -__import__("math").log(1 - o.count("ok") / len(o)), "base 10"),
    ("nines", lambda o: float(int(_nines(o))) if o.count("ok") < len(o) else 1e9,
     "do not round"),
    ("nines", lambda o: -__import__("math").log10(1 - o.count("ok") / len(o)),
     "infinitely many nines"),
    ("nines", lambda o: "3 nines", "return a number"),
    ("nines", 3.3, "write a function"),
])
def test_lesson_09_checks_fail_wrong_answers_with_a_hint(lab, name, answer, hint):
    verdict = check("09", name, answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


def test_lesson_09_counts_client_errors_per_second_zero_filled():
    from labkit.ui.lesson import client_errors

    def op(tier, kind, end, final=False):
        return SimpleNamespace(tier=tier, type=kind, end=end, final=final)

    ops = [op("mysql", "ok", 0.2), op("mysql", "fail", 0.5), op("mysql", "info", 2.9),
           op("mysql", "info", None), op("postgres", "ok", 1.1),
           op("mysql", "ok", 3.5, final=True), op("mysql", "fail", 3.6, final=True),
           op("mysql", "fail", 9.0)]   # after the run: not drawn
    assert client_errors(ops, 3.2) == {"mysql": [1, 0, 1, 0], "postgres": [0, 0, 0, 0]}


# -- lesson 12: a parser of the real configs, checked on random texts and the lab's files ------
PG_CONF = """# initdb's file, then what labkit appends
max_connections = 100			# (change requires restart)
shared_buffers = 128MB			# min 128kB
#wal_level = replica			# minimal, replica, or logical
#synchronous_standby_names = ''	# standby servers that provide sync rep
wal_level = replica
synchronous_commit = on
hot_standby = on
max_connections = 40
shared_buffers = 16MB
"""


@pytest.fixture
def lab_with_configs(tmp_path):
    """A lab whose my.cnf is the real template and whose PostgreSQL and Cassandra files look
    like the running ones (initdb's duplicates, ALTER SYSTEM's quotes, YAML's colons)."""
    import labkit.db.mysql_server
    from labkit import templating

    files = {"mysql": {"my.cnf": templating.render(
                 labkit.db.mysql_server.__file__, "my.cnf.j2", node="node1", as_root=False,
                 base=tmp_path, address="127.0.1.11", port=3306, server_id=1)},
             "postgres": {"postgresql.conf": PG_CONF,
                          "postgresql.auto.conf":
                              "# Do not edit\nsynchronous_standby_names = '*'\n"},
             "cassandra": {"cassandra.yaml": "cluster_name: lab\nnum_tokens: 1\nseed_provider:\n"
                           "- class_name: x\n  parameters:\n  - seeds: 127.0.1.11\n"
                           "commitlog_sync: periodic\ncommitlog_sync_period: 10000ms\n"
                           "phi_convict_threshold: 5\n"}}
    paths = {}
    for service, texts in files.items():
        paths[service] = {}
        for name, text in texts.items():
            (tmp_path / name).write_text(text)
            paths[service][name] = tmp_path / name
    return SimpleNamespace(layout=SimpleNamespace(topology=Topology.default()),
                           config_files=lambda target: paths[target.partition("/")[2]])


def _setting(text, name, seps="=:", dash="-", comment="#", last=True):
    """A right parser; each keyword argument turns off one of its rules for the wrong ones."""
    want, found = name.replace(dash, "_"), None
    for line in text.splitlines():
        line = line.split(comment, 1)[0]
        for sep in seps:
            key, has, value = line.partition(sep)
            if has and key.strip().replace(dash, "_") == want:
                found = value.strip().strip("'\"")
                break
        if found is not None and not last:
            return found
    return found


def test_lesson_12_reads_the_files_as_the_servers_do(lab_with_configs):
    from labkit.ui.course import load_check

    files = {w: t for w, t, _n in load_check("12", "real_files")(lab_with_configs)}
    value_of = load_check("12", "value_of")
    assert value_of(files["node1's postgresql.conf"], "max_connections") == "40"
    assert value_of(files["node1's postgresql.conf"], "synchronous_standby_names") is None
    assert value_of(files["node1's postgresql.auto.conf"], "synchronous_standby_names") == "*"
    assert value_of(files["node1's my.cnf"], "server_id") == "1"
    assert value_of(files["node1's my.cnf"], "rpl_semi_sync_master_wait_point") == "AFTER_SYNC"
    assert value_of(files["node1's cassandra.yaml"], "commitlog_sync") == "periodic"


@pytest.mark.parametrize("name, answer", [("setting", _setting), ("commit_mode", "commitlog_sync"),
                                          ("commit_mode", " commitlog-sync: ")])
def test_lesson_12_checks_pass_the_right_answer(lab_with_configs, name, answer):
    for _ in range(5):  # fresh random texts each time
        verdict = check("12", name, answer, lab_with_configs)
        assert verdict.passed, verdict.text


@pytest.mark.parametrize("name, answer, hint", [
    ("setting", lambda t, n: _setting(t, n, seps="="), "separates them too"),
    ("setting", lambda t, n: _setting(t, n, comment="\0"), "starts a comment"),
    ("setting", lambda t, n: _setting(t.replace("\n#", "\n"), n), "it sets nothing"),
    ("setting", lambda t, n: _setting(t, n, last=False), "the last line counts"),
    ("setting", lambda t, n: _setting(t, n, dash="\0"), "alike"),
    ("setting", lambda t, n: _setting(t, n) or "", "commented-out line sets nothing"),
    ("setting", lambda t, n: {"server_id": "2"}.get(n) or _setting(t, n), "my.cnf"),
    ("setting", lambda t, n: next((line.split("=")[1].strip() for line in t.splitlines()
                                   if line.startswith(n)), None), "not yet"),
    ("setting", lambda t, n: 1 / 0, "ZeroDivisionError"),
    ("setting", "max_connections = 40", "write a function"),
    ("commit_mode", "commitlog_sync_period", "chooses between periodic and batch"),
    ("commit_mode", "num_tokens", "ranges of the ring"),
    ("commit_mode", "durable_writes", "has no line setting"),
    ("commit_mode", 3, "as a string"),
])
def test_lesson_12_checks_fail_wrong_answers_with_a_hint(lab_with_configs, name, answer, hint):
    verdict = check("12", name, answer, lab_with_configs)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


# -- lesson 11: lose writes on purpose --------------------------------------------------------


def _lost_ids(timeline, crash):
    return [c["id"] for c in timeline if c["acked"] is not None and c["acked"] <= crash
            and (c["received"] is None or c["received"] > crash)]


def test_lesson_11_check_passes_the_right_answer(lab):
    assert check("11", "lost_ids", _lost_ids, lab).passed


@pytest.mark.parametrize("answer, hint", [
    (lambda t, crash: [c["id"] for c in t if c["received"] is None], "never told"),
    (lambda t, crash: [c["id"] for c in t if c["acked"] is not None], "relay log"),
    (lambda t, crash: [], "received is None"),
    (lambda t, crash: len(_lost_ids(t, crash)), "not how many"),
    (lambda t, crash: "none", "return a list of ids"),
    ([3], "write a function"),
])
def test_lesson_11_check_fails_wrong_answers_with_a_hint(lab, answer, hint):
    verdict = check("11", "lost_ids", answer, lab)
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


def test_lesson_11_cases_lose_writes_only_without_semi_sync():
    """The random timelines hold both kinds: async ones that lose, semi-sync ones that do not
    (so an answer of [] or of every unreceived id cannot pass by luck)."""
    from labkit.ui.course import load_check

    module = load_check("11", "lost_ids").__globals__
    lost = [module["_lost"](t, crash) for t, crash in module["cases"]()]
    assert sum(1 for x in lost if x) >= 3 and sum(1 for x in lost if not x) >= 3


# -- lesson 13: the tuned lab's VIP gap, from its own topology ---------------------------------
def _tuned(advert: float = 0.1):
    """The lesson's small lab: two load balancers (priorities 100 and 90), a MySQL pair."""
    from labkit.topology import DevicesSpec, MysqlSpec, NodeSpec, VrrpSpec

    topology = Topology(nodes=(NodeSpec("node1", ("lb", "app"), priority=100),
                               NodeSpec("node2", ("lb", "app"), priority=90),
                               NodeSpec("node3", ("mysql",)), NodeSpec("node4", ("mysql",))),
                        vrrp=VrrpSpec(advert_interval=advert),
                        mysql=MysqlSpec(failover_after=1.0), devices=DevicesSpec(count=0))
    return SimpleNamespace(layout=SimpleNamespace(topology=topology))


@pytest.mark.parametrize("answer", [0.3 + 166 * 0.1 / 256, 0.365, 0.45, 0.6])
def test_lesson_13_gap_check_passes_the_master_down_interval_and_a_little(answer):
    verdict = check("13", "vip_gap", answer, _tuned())
    assert verdict.passed, verdict.text


def test_lesson_13_gap_check_reads_the_labs_own_advert_interval():
    assert check("13", "vip_gap", 3 + 166 / 256, _tuned(1.0)).passed
    assert not check("13", "vip_gap", 0.73, _tuned(1.0)).passed


def test_lesson_13_gap_check_takes_the_topology_where_the_small_lab_could_not_start():
    topology = _tuned().layout.topology
    assert check("13", "vip_gap", 0.365, topology).passed
    assert not check("13", "vip_gap", 0.73, topology).passed


@pytest.mark.parametrize("answer, hint", [
    (0.3, "then the backup waits its skew time"),            # 3 × advert, the skew forgotten
    (0.165, "waits for three of them"),                      # one advert + skew: 3× forgotten
    (0.065, "waits for three of them"),                      # the skew alone
    (0.7297, "the main lab's figure"),                       # the default 0.2 s adverts
    (0.9, "the main lab's figure"),
    (10, "Junos Space's own heartbeat"),
    (0.23, "too short"),
    (3.0, "too long"),
    ("0.365", "give a number"),
    (True, "give a number"),
    (None, "write your answer"),
])
def test_lesson_13_gap_check_fails_wrong_answers_with_a_hint(answer, hint):
    verdict = check("13", "vip_gap", answer, _tuned())
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


# -- lesson 13, part 2: a failover_after that sits out the measured pause -----------------------
def _paused(*freezes: tuple[float, float | None]):
    """The tuned lab whose event log holds these freezes of node3: (began, thawed or None)."""
    log: list[dict] = []
    for began, thawed in freezes:
        log.append({"ts": began + 0.05, "at": began, "kind": "fault", "node": "node3",
                    "mode": "freeze"})
        if thawed is not None:
            log.append({"ts": thawed, "kind": "recover", "node": "node3", "was": "frozen"})
    lab = _tuned()
    lab.events = lambda since=0.0: [e for e in log if e["ts"] >= since]
    return lab


def test_pauses_are_read_from_freeze_to_recover():
    from labkit.ui.lesson import pauses

    lab = _paused((100.0, 103.6), (200.0, 201.0), (300.0, None))
    assert pauses(lab.events()) == pytest.approx([3.6, 1.0])


@pytest.mark.parametrize("answer", [4.6, 5, 6.5, 8.0])
def test_lesson_13_timer_check_passes_the_pause_plus_a_margin(answer):
    verdict = check("13", "failover_after", answer, _paused((100.0, 103.6)))
    assert verdict.passed, verdict.text


def test_lesson_13_timer_check_reads_the_longest_pause_of_the_lab():
    lab = _paused((100.0, 103.6), (200.0, 205.0))
    assert not check("13", "failover_after", 5, lab).passed
    assert check("13", "failover_after", 6.5, lab).passed


@pytest.mark.parametrize("answer, hint", [
    (1.0, "the small lab's own timer"),
    (3.0, "where the watcher's looks fall"),       # may sit out 3.6 s, by luck
    (2.5, "where the watcher's looks fall"),
    (2.0, "no longer than the pause you measured (3.60 s)"),
    (3.6, "no longer than the pause you measured"),
    (4.0, "almost no margin"),
    (9.0, "without writes for up to 11.0 s"),
    (0.5, "1 s at the least"),
    ("5", "give a number"),
    (True, "give a number"),
    (None, "write your answer"),
])
def test_lesson_13_timer_check_fails_wrong_answers_with_a_hint(answer, hint):
    verdict = check("13", "failover_after", answer, _paused((100.0, 103.6)))
    assert not verdict.passed and "not yet" in verdict.text and hint in verdict.text, verdict.text


@pytest.mark.parametrize("lab, hint", [
    (None, "did not run on this machine"),
    (_paused(), "run the pause experiment above first"),
    (_paused((100.0, None)), "run the pause experiment above first"),  # still frozen
])
def test_lesson_13_timer_check_needs_a_measured_pause(lab, hint):
    verdict = check("13", "failover_after", 5, lab)
    assert not verdict.passed and hint in verdict.text, verdict.text


def _lab_with_pss(pss: dict[str, dict[str, int]]) -> SimpleNamespace:
    return SimpleNamespace(layout=SimpleNamespace(topology=Topology.default()),
                           status=lambda resources=False: {"resources": {"pss": pss}})


PSS = {"node1": {"cassandra": 300 << 20, "mysql": 90 << 20, "apache": 20 << 20},
       "node2": {"cassandra": 290 << 20, "mysql": 85 << 20, "app": 60 << 20},
       "lab": {"segment": 30 << 20}}


def test_lesson_00s_biggest_service_is_read_from_the_lab(tmp_path):
    lab = _lab_with_pss(PSS)
    assert check("00", "biggest", "cassandra", lab).passed
    assert check("00", "biggest", ' "Cassandra" ', lab).passed


@pytest.mark.parametrize("answer, hint", [
    ("apache", "takes the least"),
    ("mysql", "some service takes more"),
    ("oracle", "no service 'oracle'"),
    (3, "as text"),
])
def test_lesson_00s_biggest_service_refuses_wrong_answers_with_a_hint(answer, hint):
    verdict = check("00", "biggest", answer, _lab_with_pss(PSS))
    assert not verdict.passed and hint in verdict.text
