"""Device image files in the real Cassandra ring, through the VIP: store, list, fetch, refuse.

The shared lab is whole here (both Cassandra nodes up); the fault tests are in
test_cassandra_faults.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.lab


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ring_has_two_normal_members_and_two_copies(lab):
    ring = lab.status()["cassandra"]
    assert ring["replication_factor"] == 2
    assert [(m["node"], m["state"]) for m in ring["members"]] == [("node1", "UN"),
                                                                   ("node2", "UN")]
    assert all("load" in m and m["hints_for"] == {} for m in ring["members"])
    assert ring["members"][0]["token"] != ring["members"][1]["token"]


def test_the_labs_role_is_hashed_at_the_cheap_bcrypt_cost(lab):
    """Each login runs bcrypt over the role's hash; the JVM property naming the cost must be the
    one this Cassandra reads, or logins cost 2^10 rounds (a property with a wrong name is
    ignored without a word: it once was)."""
    from labkit.cassandra import client, config

    row = client.session(lab.layout).execute(  # the lab's shared session: not shut down
        "SELECT salted_hash FROM system_auth.roles WHERE role = %s", [client.ROLE]).one()
    assert row.salted_hash.startswith(f"$2a${config.BCRYPT_ROUNDS:02d}$"), row.salted_hash[:7]


def test_a_20_mb_image_goes_up_and_comes_back_through_the_vip(lab, tmp_path):
    src = tmp_path / "junos-20m.img"
    src.write_bytes(os.urandom(20 * 1024 * 1024))
    stored = lab.files.put(src)
    assert stored["size"] == src.stat().st_size
    assert stored["sha256"] == sha256(src)
    assert stored["chunks"] == 80 and stored["stored_on"] == ["node1", "node2"]

    listed = {f["name"]: f for f in lab.files.ls()}
    assert listed["junos-20m.img"]["sha256"] == stored["sha256"]
    assert listed["junos-20m.img"]["uploaded_via"] in {n.name for n in lab.layout.nodes}

    got = lab.files.get("junos-20m.img", tmp_path / "copy.img")
    assert got["verified"] and sha256(tmp_path / "copy.img") == stored["sha256"]
    for node in ("node1", "node2"):  # each replica holds the whole file by itself
        assert lab.files.read_on("junos-20m.img", node)["ok"]


def test_the_files_command_round_trip(lab, tmp_path):
    labkit = shutil.which("labkit") or str(Path(sys.executable).parent / "labkit")
    src = tmp_path / "small.img"
    src.write_bytes(os.urandom(700_000))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([labkit, "files", *args], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    assert run("put", str(src), "--name", "cli-small.img").returncode == 0
    listed = json.loads(run("ls", "--json").stdout)
    assert any(f["name"] == "cli-small.img" and f["size"] == 700_000 for f in listed)
    assert run("get", "cli-small.img", "-o", str(tmp_path / "back.img")).returncode == 0
    assert sha256(tmp_path / "back.img") == sha256(src)
    assert run("rm", "cli-small.img").returncode == 0
    missing = run("get", "cli-small.img")
    assert missing.returncode == 2 and "no file named 'cli-small.img'" in missing.stderr


def test_a_new_upload_replaces_the_old_bytes(lab):
    lab.files.put(b"first version " * 1000, name="replace-me.img")
    second = lab.files.put(b"second " * 3000, name="replace-me.img")
    assert lab.files.info("replace-me.img")["sha256"] == second["sha256"]
    lab.files.delete("replace-me.img")


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/files/no-such-image.img", 404),
    ("GET", "/api/files/.hidden", 422),
    ("GET", "/api/files/x.img?consistency=TWO", 422),
    ("PUT", "/api/files/empty.img", 400),
    ("PUT", "/api/files/a%20b.img", 422),
    ("DELETE", "/api/files/no-such-image.img", 404),
])
def test_bad_requests_get_a_clear_error_and_change_nothing(lab, method, path, status):
    before = lab.files.ls()
    r = httpx.request(method, lab.vip_url + path, content=b"", timeout=10,
                      auth=lab.auth("admin"))
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    assert lab.files.ls() == before


def test_both_ring_nodes_map_the_class_archive_built_at_set_up(lab):
    """`make setup` builds Cassandra's class archive (labkit/cassandra/cds.py). A JVM that
    cannot use it (a flag missing, another classpath, another JDK) says nothing and loads
    every class itself: slower to start, ~25 MiB more per node. So look at what each JVM mapped."""
    from labkit.cassandra import cds, config

    if not hasattr(lab.backend, "supervisor"):
        pytest.skip("the node's processes are in containers")
    archive = cds.archive()
    assert archive.exists(), "no class archive: run `python -m labkit.cassandra.cds`"
    for node in config.ring_nodes(lab.layout):
        pid = lab.backend.supervisor(node).programs()["cassandra"]["pid"]
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert str(archive) in maps, f"{node}'s Cassandra (pid {pid}) did not map {archive}"
