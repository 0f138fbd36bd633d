"""The lessons' predictions and hidden checks (issue 15): a prediction is fixed once committed,
a check passes the right answer and fails wrong ones with a hint, progress is kept per lab."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit.topology import Topology
from labkit.ui.course import Prediction, Progress, check


@pytest.fixture
def lab():
    return SimpleNamespace(layout=SimpleNamespace(topology=Topology.default()))


def test_the_master_down_check_passes_the_right_answer(lab, tmp_path):
    progress = Progress(tmp_path / "progress.json")
    verdict = check("01", "master_down", 1.5 + 166 * 0.5 / 256, lab, progress)
    assert verdict.passed and "right" in verdict.text
    assert progress.read()["01"]["checks"]["master_down"]["value"] is True


@pytest.mark.parametrize("answer, hint", [
    (1.5, "three adverts and then its skew time"),
    (0.3242, "skew time alone"),  # the default backup, node2, has priority 90
    (10, "three advert intervals plus the skew time"),
    ("1.8", "give a number"),
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
@pytest.fixture
def lab_with_httpd(tmp_path):
    """A lab whose httpd.conf is the real template, rendered for the default topology."""
    import labkit.lb.apache
    from labkit import templating

    topology = Topology.default()
    conf = tmp_path / "httpd.conf"
    conf.write_text(templating.render(
        labkit.lb.apache.__file__, "httpd.conf.j2", node="node1", root=tmp_path, modules=[],
        module_dir=tmp_path, as_root=False, log_dir=tmp_path, addresses=["127.0.1.11"],
        ports=SimpleNamespace(http=8080, https=8443, app=8000), lab_net="127.0.1.0/24",
        members=[{"address": f"127.0.1.{10 + i}", "route": n.name}
                 for i, n in enumerate(topology.with_role("app"), 1)],
        tls=tmp_path, body_limit=1, htpasswd=tmp_path / "htpasswd", upload_limit=2))
    return SimpleNamespace(layout=SimpleNamespace(topology=topology),
                           config_files=lambda target: {"httpd.conf": conf})


def test_the_lessons_read_the_members_settings_from_the_running_config(lab_with_httpd):
    from labkit.ui.lesson import member_settings

    s = member_settings(lab_with_httpd)
    assert s["lbmethod"] == "byrequests" and s["stickysession"] == "JSESSIONID|jsessionid"
    assert (s["hcinterval"], s["hcfails"], s["timeout"], s["connectiontimeout"]) == \
        ("1", "1", "5", "1")


@pytest.mark.parametrize("name, answer", [("shares", 10), ("shares", 10.0),
                                          ("frozen_wait", 5), ("taken_out", 6)])
def test_lesson_02_checks_pass_the_right_answer(lab_with_httpd, name, answer):
    assert check("02", name, answer, lab_with_httpd).passed


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
def test_lesson_02_checks_fail_wrong_answers_with_a_hint(lab_with_httpd, name, answer, hint):
    verdict = check("02", name, answer, lab_with_httpd)
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


# -- lesson 04: the timers come from the watchers' modules -------------------------------------
def _may(silent_for, caught_up, alone, reaches_others):
    return silent_for >= 3 and caught_up and not alone and reaches_others


def _lost(load, conn):
    return load.missing(conn)


@pytest.mark.parametrize("name, answer", [
    ("worst_gap", 4.0), ("worst_gap", 3.5), ("worst_gap", 5.0),
    ("may_take_over", _may),
    ("lost_rows", _lost),
    ("lost_rows", lambda load, conn: [s for s in load.acked
                                      if s not in {r["seq"] for r in conn.cursor().fetchall()}]),
])
def test_lesson_04_checks_pass_the_right_answer(lab, name, answer):
    verdict = check("04", name, answer, lab)
    assert verdict.passed, verdict.text


@pytest.mark.parametrize("name, answer, hint", [
    ("worst_gap", 3.0, "only looks every POLL"),
    ("worst_gap", 6.0, "ALONE_AFTER is the active's timer"),
    ("worst_gap", 0.1, "does not make the failover instant"),
    ("worst_gap", 10, "Junos Space's own heartbeat"),
    ("worst_gap", 8, "add up the failover timer"),
    ("worst_gap", "4", "give a number"),
    ("may_take_over", lambda s, c, a, r: s >= 3, "went on alone"),
    ("may_take_over", lambda s, c, a, r: s >= 3 and not a and r, "never caught up"),
    ("may_take_over", lambda s, c, a, r: s >= 3 and c and not a, "third vote"),
    ("may_take_over", lambda s, c, a, r: c and not a and r, "FAILOVER_AFTER seconds of silence"),
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


# -- lesson 05: an LSN's bytes, and the timers from the watcher's module ----------------------
def _lsn_bytes(lsn):
    hi, lo = lsn.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@pytest.mark.parametrize("name, answer", [
    ("lsn_bytes", _lsn_bytes),
    ("lsn_bytes", lambda lsn: int(lsn.split("/")[0], 16) * 2**32 + int(lsn.split("/")[1], 16)),
    ("worst_gap", 4.0), ("worst_gap", 3.5), ("worst_gap", 5.0),
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
    ("worst_gap", 3.0, "only looks every POLL"),
    ("worst_gap", 5.0 + 3.0 + 3.0, "add up the failover timer"),
    ("worst_gap", 8.0, "wal_sender_timeout is how long"),  # FAILOVER_AFTER + wal_sender_timeout
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
