"""A class of two on one hub (issue 16): the real JupyterHub, its proxy, PAM and two learners.

The module makes three local users (two learners, one instructor) with `classroom/learners`,
starts the hub from classroom/jupyterhub_config.py, and has each learner log in through the
hub's login form and start their server through its REST API. Each server starts its lab
(`binder/start`, as on Binder) with the smallest topology (classroom/tiny.yml). At the end every
server and lab is stopped, and users, homes, groups and control groups are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from labkit import cgroups

REPO = Path(__file__).resolve().parents[2]
CLASS_BIN = REPO / "classroom" / ".venv" / "bin"
PROXY = REPO / "classroom" / "node_modules" / ".bin" / "configurable-http-proxy"
LEARNERS, TEACHER = ("lkc-ann", "lkc-bob"), "lkc-teach"
GROUPS = {"LABKIT_CLASS_LEARNERS": "lkc-learners", "LABKIT_CLASS_INSTRUCTORS": "lkc-teachers"}
MEMORY = 1536 << 20  #: each learner's share in this test: the tiny lab, JupyterLab, one kernel

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the hub runs as root to become each learner"),
    pytest.mark.skipif(not (CLASS_BIN / "jupyterhub").exists() or not PROXY.exists(),
                       reason="run `make classroom-setup` first"),
]


def free_ports(n: int) -> int:
    """The first of `n` consecutive free ports on 127.0.0.1 (hub, proxy API, hub API, page)."""
    for _ in range(200):
        first = 20000 + secrets.randbelow(30000)
        try:
            socks = []
            for p in range(first, first + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def until(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    """`probe()` once it is truthy; fails naming `what` and the last value after `timeout`."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError):
            last = probe()
            if last:
                return last
        time.sleep(1)
    raise AssertionError(f"{what}: not after {timeout:.0f}s (last: {last!r})")


def learners_cmd(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run([str(CLASS_BIN / "python"), str(REPO / "classroom" / "learners"), *args],
                   input=stdin, text=True, env=env, check=True, capture_output=True)


def as_user(user: str, argv: list[str], env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
    """Run `argv` as `user` inside the share the hub gave them, with their labkit environment."""
    sys.path.insert(0, str(REPO / "classroom"))
    import classlab

    dirs = cgroups.group_dirs(user) if cgroups.version() else []
    return subprocess.run(argv, env=classlab.environment(user) | (env or {}), text=True,
                          capture_output=True, timeout=120, cwd="/",
                          preexec_fn=classlab.become(user, dirs))


class Hub:
    """The running hub: its URL, each user's token, the instructor's view."""

    def __init__(self, url: str, env: dict[str, str], passwords: dict[str, str]) -> None:
        self.url, self.env, self.passwords = url, env, passwords
        self.tokens: dict[str, str] = {}

    def login(self, user: str) -> str:
        """Log in through the hub's own login form (that makes the user known to the hub),
        then ask the REST API for a token with the same password."""
        with httpx.Client(base_url=self.url, timeout=30) as web:
            form = web.get("/hub/login").text
            xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form).group(1)
            r = web.post("/hub/login", data={"username": user, "password": self.passwords[user],
                                             "_xsrf": xsrf})
            assert r.status_code == 302 and "login" not in r.headers["location"], r.text[:300]
        r = httpx.post(f"{self.url}/hub/api/users/{user}/tokens", timeout=30, json={
            "auth": {"username": user, "password": self.passwords[user]}, "note": "test"})
        assert r.status_code == 201, r.text
        self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def call(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, timeout=120, follow_redirects=False,
                             headers={"Authorization": f"token {self.tokens[user]}"}, **kw)

    def labs(self) -> dict[str, dict[str, Any]]:
        """The instructor's view, as JSON: learner → their row."""
        r = self.call(TEACHER, "GET", "/services/classroom/api/labs")
        assert r.status_code == 200, r.text[:300]
        return {row["learner"]: row for row in r.json()["learners"]}


def whole(row: dict[str, Any]) -> bool:
    return (row["lab"] == "up" and row["vip_owner"] is not None and bool(row["nodes"])
            and set(row["nodes"].values()) == {"up"})


def lab_processes(user: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["username"]) if p.info["username"] == user]


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    state = tmp_path_factory.mktemp("hub")
    port = free_ports(4)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8", **GROUPS,
           "LABKIT_CLASS_PORT": str(port), "LABKIT_CLASS_STATE": str(state),
           "LABKIT_CLASS_TOPOLOGY": "classroom/tiny.yml", "LABKIT_CLASS_MEMORY": str(MEMORY),
           "LABKIT_CLASS_CPUS": "1"}
    os.environ.update(GROUPS)  # as_user's classlab reads the same groups as the hub
    passwords = {u: secrets.token_urlsafe(12) for u in (*LEARNERS, TEACHER)}
    for user in (*LEARNERS, TEACHER):
        if _exists(user):  # a leftover of an interrupted run
            learners_cmd(env, "remove", user)
        learners_cmd(env, "add", user, "--password-stdin", *(["--instructor"] * (user == TEACHER)),
                     stdin=passwords[user] + "\n")
    log = open(state / "hub.log", "w")  # noqa: SIM115 - open for the hub's whole life
    proc = subprocess.Popen([str(CLASS_BIN / "jupyterhub"), "-f",
                             str(REPO / "classroom" / "jupyterhub_config.py")],
                            cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    the_hub = Hub(f"http://127.0.0.1:{port}", env, passwords)
    try:
        until("the hub answers", lambda: httpx.get(the_hub.url + "/hub/api/").status_code == 200,
              90)
        yield the_hub
    finally:
        _stop_all(the_hub, proc, env)
        log.close()
        print((state / "hub.log").read_text()[-3000:], file=sys.stderr)


def _exists(user: str) -> bool:
    return subprocess.run(["id", user], capture_output=True).returncode == 0


def _stop_all(hub: Hub, proc: subprocess.Popen, env: dict[str, str]) -> None:
    """Servers stopped through the API, the hub ended, every trace of the class removed."""
    for user in LEARNERS:
        if user in hub.tokens:
            with contextlib.suppress(httpx.HTTPError):
                hub.call(user, "DELETE", f"/hub/api/users/{user}/server")
    with contextlib.suppress(httpx.HTTPError, AssertionError):
        until("the servers stop", lambda: not any(
            hub.call(u, "GET", f"/hub/api/users/{u}").json()["servers"]
            for u in LEARNERS if u in hub.tokens), 120)
    proc.send_signal(signal.SIGTERM)  # the hub stops what is left and its proxy and service
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for user in (*LEARNERS, TEACHER):
        if _exists(user):
            learners_cmd(env, "remove", user)
        for p in lab_processes(user):  # only these users' processes: they were made for this
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        cgroups.remove(cgroups.group_dirs(user))
    for group in GROUPS.values():
        subprocess.run(["groupdel", group], capture_output=True)


@pytest.fixture(scope="module")
def class_up(hub: Hub) -> Hub:
    """Both learners logged in, both servers and both labs up; the instructor logged in."""
    for user in (*LEARNERS, TEACHER):
        hub.login(user)
    for user in LEARNERS:
        r = hub.call(user, "POST", f"/hub/api/users/{user}/server")
        assert r.status_code in (201, 202), r.text
    for user in LEARNERS:
        until(f"{user}'s server is ready", lambda u=user: hub.call(
            u, "GET", f"/hub/api/users/{u}").json()["servers"][""]["ready"], 180)
    until("both labs are whole", lambda: all(
        whole(row) for row in hub.labs().values()) and len(hub.labs()) == 2, 300)
    return hub


def layout_of(user: str) -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "classroom"))
    import classlab

    return json.loads((classlab.lab_home(user) / classlab.LAB / "layout.json").read_text())


def test_each_learner_gets_their_own_jupyterlab(class_up: Hub):
    for user in LEARNERS:
        r = class_up.call(user, "GET", f"/user/{user}/api/contents")
        assert r.status_code == 200, r.text[:300]
        names = {item["name"] for item in r.json()["content"]}
        assert "00_tour.ipynb" in names, names  # the lessons, in the learner's ~/lessons
        other = next(u for u in LEARNERS if u != user)  # and nobody else's server
        assert class_up.call(user, "GET", f"/user/{other}/api/contents").status_code in (
            302, 403, 404)


def test_each_vip_answers_only_its_own_lab(class_up: Hub):
    layouts = {u: layout_of(u) for u in LEARNERS}
    assert len({lay["prefix"] for lay in layouts.values()}) == 2, layouts  # a /24 each
    for user, lay in layouts.items():
        vip = f"http://{lay['prefix']}.100:{lay['ports']['http']}"
        own = ("learner", lay["secrets"]["nbi_learner"])
        other = next(layouts[u] for u in LEARNERS if u != user)
        r = httpx.get(vip + "/api/node", auth=own, timeout=10)
        assert r.status_code == 200 and r.json()["node"] in {"node1", "node2"}, r.text
        # the other learner's password opens nothing here: the secrets are the lab's own
        theirs = ("learner", other["secrets"]["nbi_learner"])
        assert httpx.get(vip + "/api/node", auth=theirs, timeout=10).status_code == 401


def test_each_lab_has_a_real_network_where_a_learner_may_own_one(class_up: Hub):
    """A learner is an ordinary user: where this machine grants them a user namespace their lab
    is a rootless netns lab (isolate and link cuts are real), elsewhere a loopback one."""
    for user in LEARNERS:
        userns = as_user(user, ["unshare", "--user", "--map-current-user", "--net", "true"])
        st = as_user(user, [str(CLASS_BIN / "labkit"), "status", "--json"])
        assert st.returncode == 0, st.stderr
        network = json.loads(st.stdout)["network"]
        want = "netns (rootless: user namespace)" if userns.returncode == 0 else "loopback"
        assert network == want, (user, network, userns.stderr)


def test_a_learner_cannot_read_another_lab(class_up: Hub):
    ann, bob = LEARNERS
    sys.path.insert(0, str(REPO / "classroom"))
    import classlab

    secrets_file = classlab.lab_home(bob) / classlab.LAB / "layout.json"
    probe = f"open({str(secrets_file)!r}).read()"
    res = as_user(ann, ["/usr/bin/python3", "-c", probe])
    assert res.returncode != 0 and "PermissionError" in res.stderr, res
    # the same read as bob himself works: the probe can see an open door
    assert as_user(bob, ["/usr/bin/python3", "-c", probe]).returncode == 0


def test_each_learner_runs_inside_their_limits(class_up: Hub):
    if cgroups.version() is None:
        pytest.skip("no writable control groups on this machine")
    for user, row in class_up.labs().items():
        limits = row["limits"]
        assert limits and limits["memory_limit"] == MEMORY and limits["cpus"] == 1, row
        assert limits["cgroup"].endswith(f"/{cgroups.PARENT}/{user}"), limits
        assert limits["oom_kills"] == 0, limits
        # every live process of the learner is in their group: nothing escaped the share (a
        # zombie has left every group: binder/start's finished `labkit up`, not yet reaped)
        inside = cgroups.members(cgroups.group_dirs(user))
        outside = [(p.pid, " ".join(p.cmdline()[:4]), Path(f"/proc/{p.pid}/cgroup").read_text())
                   for p in lab_processes(user)
                   if p.pid not in inside and p.status() != psutil.STATUS_ZOMBIE]
        assert outside == [], outside


def test_a_crash_in_one_lab_leaves_the_other_untouched(class_up: Hub):
    ann, bob = LEARNERS
    before = class_up.labs()[bob]
    bob_pids = {p.pid for p in lab_processes(bob)}
    res = as_user(ann, [str(CLASS_BIN / "labkit"), "fail", "node1"])
    assert res.returncode == 0, res.stderr
    rows = until("ann's node1 shows crashed", lambda: (lambda r: r if r[ann]["nodes"].get(
        "node1") == "crashed" else None)(class_up.labs()), 60)
    assert rows[bob]["nodes"] == before["nodes"] and whole(rows[bob]), rows[bob]
    assert rows[bob]["vip_owner"] == before["vip_owner"], rows[bob]
    assert bob_pids <= {p.pid for p in lab_processes(bob)}  # not one of bob's processes died
    lay = layout_of(bob)
    r = httpx.get(f"http://{lay['prefix']}.100:{lay['ports']['http']}/api/node", timeout=10,
                  auth=("learner", lay["secrets"]["nbi_learner"]))
    assert r.status_code == 200


def test_the_instructor_sees_every_lab_and_a_learner_does_not(class_up: Hub):
    rows = class_up.labs()
    assert set(rows) == set(LEARNERS)
    assert all(row["server"] == "running" and row["vip"] for row in rows.values()), rows
    page = class_up.call(TEACHER, "GET", "/services/classroom/")
    assert page.status_code == 200 and all(u in page.text for u in LEARNERS)
    ann = LEARNERS[0]
    assert class_up.call(ann, "GET", "/services/classroom/api/labs").status_code == 403


def test_the_instructor_resets_one_lab(class_up: Hub):
    ann, bob = LEARNERS
    bob_pids = {p.pid for p in lab_processes(bob)}
    r = class_up.call(TEACHER, "POST", f"/services/classroom/api/labs/{ann}/reset")
    assert r.status_code == 200 and r.json()["reset"], r.text
    until("ann's lab is whole again", lambda: whole(class_up.labs()[ann]), 240)
    assert bob_pids <= {p.pid for p in lab_processes(bob)}
    # a learner may not reset anyone's lab through the page
    assert class_up.call(bob, "POST", f"/services/classroom/api/labs/{ann}/reset").status_code \
        == 403


def test_a_learner_who_hits_the_memory_limit_is_told(class_up: Hub):
    if cgroups.version() is None:
        pytest.skip("no writable control groups on this machine")
    ann, bob = LEARNERS
    # 32 MiB at a time up to 4 GiB: far past the share, never past the machine
    hog = "b = []\nfor _ in range(128): b.append(bytearray(32 << 20))"
    res = as_user(ann, ["/usr/bin/python3", "-c", hog])
    assert res.returncode == -signal.SIGKILL, res  # the kernel's OOM killer ended it
    out = as_user(ann, [str(CLASS_BIN / "labkit"), "status"], env={"COLUMNS": "300"}).stdout
    assert "MEMORY LIMIT REACHED" in out, out
    rows = class_up.labs()
    assert rows[ann]["limits"]["oom_kills"] >= 1 and rows[bob]["limits"]["oom_kills"] == 0
