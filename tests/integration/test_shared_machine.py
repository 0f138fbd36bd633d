"""Another local user on the same machine cannot take the lab (issue 14).

Each probe runs as `nobody` (another learner of the same JupyterHub server, say) and tries one
way in: the secrets, the witness, the databases' sockets and files, the NBI and the
balancer-manager without the lab's passwords. The same probe run as the lab's own user must get
in: that is what shows a probe can see a door left open.
"""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")

#: stdlib only: another user may not be able to read this project's virtualenv
PYTHON = "/usr/bin/python3"


PEER = "lkt-peer"  #: the second local user, made for this module and removed after it


@pytest.fixture(scope="module")
def peer():
    subprocess.run(["userdel", PEER], capture_output=True, check=False)  # a leftover
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell",
                    "/usr/sbin/nologin", PEER], check=True)
    try:
        yield PEER
    finally:
        subprocess.run(["userdel", PEER], check=False)


def probe(code: str, user: str | None, env: dict[str, str] | None = None) -> str:
    """Run `code` (which prints `in` or why not) as `user`, or as the lab's own user (None)."""
    res = subprocess.run([PYTHON, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=30, cwd="/", env={"PATH": "/usr/bin:/bin", **(env or {})},
                         **({"user": user, "group": user, "extra_groups": []} if user else {}))
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


#: runs a database client; `in` when it got a session, else the client's complaint
CLIENT = """
    import subprocess
    r = subprocess.run({cmd!r}, capture_output=True, text=True, timeout=20)
    print("in" if r.returncode == 0 else "refused: " + (r.stderr.strip().splitlines() or ["?"])[-1])
"""


def probes(lab) -> dict[str, str]:
    paths = lab.layout.paths
    url = lab.vip_url
    manager = f"http://{lab.layout.address('node1')}:{lab.layout.ports.http}/balancer-manager"
    pg_socket = paths.service("node1", "postgres") / "run" / f".s.PGSQL.{lab.layout.ports.postgres}"
    return {
        "read the secrets": f"""
            try: open({str(paths.layout)!r}).read(); print("in")
            except PermissionError: print("refused")""",
        "rewrite the MySQL witness": f"""
            p = {str(paths.witness('mysql'))!r} + ".forged"
            try: open(p, "w").write("{{}}"); print("in")
            except PermissionError: print("refused")""",
        "read MariaDB's data": f"""
            import os
            try: os.listdir({str(paths.service('node1', 'mysql') / 'data')!r}); print("in")
            except PermissionError: print("refused")""",
        "reach PostgreSQL's socket": f"""
            import socket
            s = socket.socket(socket.AF_UNIX)
            try: s.connect({str(pg_socket)!r}); print("in")
            except PermissionError: print("refused")""",
        "ask the forkserver for a process": f"""
            import socket
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect({str(paths.forkserver)!r}); s.sendall(b"{{}}\\n")
                answer = s.recv(200)
                print("in" if b'"ok"' in answer else "refused: " + answer.decode())
            except PermissionError: print("refused")""",
        "call the NBI without a password": f"""
            import urllib.request, urllib.error
            try: urllib.request.urlopen({url + '/api/notes'!r}, timeout=10); print("in")
            except urllib.error.HTTPError as e: print("in" if e.code < 400 else e.code)""",
        "log in to MariaDB": CLIENT.format(cmd=[
            "mariadb", f"--host={lab.layout.address('node1')}",
            f"--port={lab.layout.ports.mysql}", "--user=root", "--connect-timeout=5",
            "--execute=SELECT 1"]),
        "log in to MariaDB on its socket": CLIENT.format(cmd=[
            "mariadb", f"--socket={paths.service('node1', 'mysql') / 'run' / 'mysqld.sock'}",
            "--user=root", "--execute=SELECT 1"]),
        "log in to PostgreSQL": CLIENT.format(cmd=[
            "psql", "--no-password", f"--host={lab.layout.address('node1')}",
            f"--port={lab.layout.ports.postgres}", "--username=postgres", "--dbname=postgres",
            "--command=SELECT 1"]),
        "open the balancer-manager": f"""
            import urllib.request, urllib.error
            try: urllib.request.urlopen({manager!r}, timeout=10); print("in")
            except urllib.error.HTTPError as e: print("in" if e.code < 400 else e.code)""",
    }


def test_another_local_user_gets_nowhere(lab, peer):
    answers = {what: probe(code, peer) for what, code in probes(lab).items()}
    assert {what: out for what, out in answers.items() if out == "in"} == {}, answers


def test_the_probes_see_an_open_door(lab):
    # the lab's own user, who holds its passwords, gets through every door; without a password
    # the NBI and the manager still refuse (401), from the lab's user too
    secrets = lab.layout.secrets
    passwords = {"MYSQL_PWD": secrets["mysql_root"], "PGPASSWORD": secrets["postgres"]}
    answers = {what: probe(code, None, passwords) for what, code in probes(lab).items()}
    (lab.layout.paths.witness("mysql").with_suffix(".json.forged")).unlink(missing_ok=True)
    assert answers == {what: "in" for what in answers} | {
        "call the NBI without a password": "401", "open the balancer-manager": "401"}


#: the servers that are not labkit's own: each runs as its own user when the lab is root, as
#: Debian's packages run them (Apache's parent stays root to bind, its workers are www-data)
SERVERS = {"mariadbd": "mysql", "postgres": "postgres", "java": "cassandra",
           "apache2": "www-data"}


def lab_servers(lab) -> dict[str, set[str]]:
    """Each server program of this lab (found by its run directory on the command line) and
    the users its processes run as."""
    import psutil

    rundir = str(lab.layout.rundir)
    users: dict[str, set[str]] = {}
    for p in psutil.process_iter(["name", "cmdline", "username"]):
        name = p.info["name"]
        if name in SERVERS and rundir in " ".join(p.info["cmdline"] or []):
            users.setdefault(name, set()).add(p.info["username"])
    return users


def test_no_server_runs_as_root(lab):
    users = lab_servers(lab)
    assert set(users) == set(SERVERS), users  # every kind was found: the scan sees them
    assert users["apache2"] == {"root", "www-data"}  # the parent binds, the workers serve
    assert {name: who for name, who in users.items() if name != "apache2"} == {
        name: {user} for name, user in SERVERS.items() if name != "apache2"}
