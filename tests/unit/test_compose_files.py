"""The compose backend's files and choices, without an engine: the compose file agrees with the
lab's address plan, keepalived's config follows the topology, subnets and mirrors are read right,
and a wrong backend or subnet is refused before anything changes."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from labkit.backends import resolve_backend
from labkit.backends.compose import images, network
from labkit.backends.compose.node import clear_stale_pidfiles
from labkit.backends.local import network as claims
from labkit.cluster import Cluster
from labkit.component import all_components
from labkit.errors import LabError
from labkit.layout import Layout, rundir_of
from labkit.lb.keepalived import Keepalived, fifo_path, render, state_change
from labkit.topology import Topology


def with_defaults(text: str) -> str:
    """What compose makes of ${VAR:-default} when no variable is set."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


@pytest.fixture
def compose_file() -> dict:
    return yaml.safe_load(with_defaults(images.COMPOSE_DIR.joinpath("docker-compose.yml")
                                        .read_text()))


@pytest.fixture
def layout() -> Layout:
    return Layout(lab="t", topology=Topology.default(), prefix=network.DEFAULT_SUBNET,
                  backend="compose", secrets=Layout.new_secrets())


@pytest.fixture(autouse=True)
def claims_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "CLAIMS", tmp_path / "claims")
    monkeypatch.delenv("LABKIT_SUBNET", raising=False)


def test_compose_file_follows_the_layouts_address_plan(compose_file, layout):
    services = compose_file["services"]
    net = compose_file["networks"]["labnet"]["ipam"]["config"][0]
    assert net["subnet"] == f"{layout.prefix}.0/24"
    for n in layout.nodes:
        assert services[n.name]["networks"]["labnet"]["ipv4_address"] == layout.address(n.name)
        assert services[n.name]["command"] == ["--node", n.name]
        assert services[n.name]["environment"]["LABKIT_VIP"] == layout.vip
        assert "NET_ADMIN" in services[n.name]["cap_add"]
    assert services["fleet"]["networks"]["labnet"]["ipv4_address"] == layout.fleet_address
    assert services["lab"]["networks"]["labnet"]["ipv4_address"] == \
        f"{layout.prefix}.{network.JUPYTER_HOST}"
    assert services["lab"]["ports"] == ["127.0.0.1:8888:8888"]  # localhost only


def test_every_service_runs_the_one_image_built_from_the_dockerfile(compose_file):
    for name, svc in compose_file["services"].items():
        assert svc["image"] == images.NODE_IMAGE, name
        assert svc["build"]["dockerfile"] == "compose/node.Dockerfile", name
    assert images.base_image() == "debian:bookworm-slim"


def test_mirrors_are_read_from_deb822_and_one_line_sources(tmp_path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
                      "Types: deb\nURIs: http://mirror.example/debian-security/\n")
    assert images.debian_mirrors([deb822]) == ("http://mirror.example/debian",
                                               "http://mirror.example/debian-security")
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert images.debian_mirrors([one_line]) == ("http://other.example/debian", None)
    assert images.debian_mirrors([]) == ("http://deb.debian.org/debian", None)


def test_keepalived_config_follows_the_topology(layout):
    conf = render(layout, "node1", "eth0")
    assert "unicast_src_ip 172.31.250.11" in conf
    assert re.search(r"unicast_peer \{\s+172\.31\.250\.12\s+\}", conf)
    assert "priority 100" in conf and "advert_int 0.2" in conf and "nopreempt" in conf
    assert "172.31.250.100/24 dev eth0" in conf
    eager = Topology.from_dict({**layout.topology.to_dict(), "vrrp": {"preempt": True}})
    assert "nopreempt" not in render(Layout("t", eager, layout.prefix), "node2", "eth1")


def test_only_the_compose_backend_swaps_the_vrrp_daemon_for_keepalived():
    compose = [type(c).__name__ for c in all_components("compose")]
    local = [type(c).__name__ for c in all_components("local")]
    assert "Keepalived" in compose and "Vrrp" not in compose
    assert "Vrrp" in local and "Keepalived" not in local
    assert Keepalived.role == "lb"


def fake_engine(*subnets: str) -> SimpleNamespace:
    """Just the one call `claim` makes of the Docker API: the networks and their subnets."""
    nets = [SimpleNamespace(attrs={"IPAM": {"Config": [{"Subnet": s}]}}) for s in subnets]
    return SimpleNamespace(networks=SimpleNamespace(list=lambda: nets))


def test_a_subnet_docker_or_another_lab_uses_is_skipped(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert network.claim(a, fake_engine("172.17.0.0/16", "172.31.250.0/24")) == "172.31.249"
    assert network.claim(b, fake_engine("172.31.250.0/24")) == "172.31.248"  # 249 is a's
    claims.release("172.31.249", a)  # the claims are the local /24 claims' mechanism
    assert network.claim(b, fake_engine("172.31.250.0/24")) == "172.31.249"


@pytest.mark.parametrize("value", ["172.31", "8.8.8", "127.0.5", "300.1.1"])
def test_a_bad_labkit_subnet_is_refused(tmp_path, monkeypatch, value):
    monkeypatch.setenv("LABKIT_SUBNET", value)
    with pytest.raises(LabError):
        network.claim(tmp_path, fake_engine())
    assert not (claims.CLAIMS / value).exists()


def test_backend_names_are_checked_and_auto_keeps_an_existing_labs(layout):
    with pytest.raises(LabError, match="unknown backend"):
        resolve_backend("docker", None, print)
    said: list[str] = []
    assert resolve_backend("auto", layout, said.append) == "compose"
    assert "compose" in said[0]
    assert resolve_backend("local", layout, said.append) == "local"


def test_a_lab_set_up_on_one_backend_is_not_started_on_the_other(labkit_home):
    lab = "switcher"
    Cluster._layout_for(lab, None, None, "local")
    before = rundir_of(lab).layout.read_text()
    with pytest.raises(LabError, match="set up on the local backend"):
        Cluster._layout_for(lab, None, None, "compose")
    assert rundir_of(lab).layout.read_text() == before


def test_a_restarted_container_starts_without_its_previous_lifes_pid_files(tmp_path):
    (tmp_path / "apache" / "run").mkdir(parents=True)
    (tmp_path / "postgres" / "data").mkdir(parents=True)
    for f in ("apache/run/httpd.pid", "postgres/data/postmaster.pid", "supervisord.pid"):
        (tmp_path / f).write_text("12")
    (tmp_path / "postgres" / "data" / "PG_VERSION").write_text("15")
    assert clear_stale_pidfiles(tmp_path) == 3
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["PG_VERSION"]


def test_a_topology_the_compose_file_cannot_hold_is_refused_before_anything_is_written(
        labkit_home):
    with pytest.raises(LabError, match="no service for node5, node6"):
        Cluster.up(nodes=6, backend="compose", lab="toomany")
    assert not Path(labkit_home, "toomany").exists()
    assert not claims.CLAIMS.exists() or not list(claims.CLAIMS.iterdir())


def test_keepalived_reports_to_a_fifo_and_scopes_a_loopback_vip_to_the_host(layout):
    """No notify script (a rootless lab's user namespace denies the setgroups keepalived does
    before running one): its state changes go to a FIFO its starter reads. A 127/8 VIP (a
    rootless netns lab's) must be `scope host`, the only scope the kernel takes for one."""
    conf = render(layout, "node1", "eth0")
    assert f"vrrp_notify_fifo {fifo_path(layout, 'node1')}" in conf
    assert "notify " not in conf.replace("vrrp_notify_fifo", "")
    assert "scope host" not in conf
    rootless = Layout("t", layout.topology, "127.0.9")
    assert "127.0.9.100/24 dev eth0 scope host" in render(rootless, "node1", "eth0")


def test_the_fifo_lines_of_the_vrrp_instance_are_state_changes():
    assert state_change('INSTANCE "VIP" MASTER 100') == ("MASTER", "100")
    assert state_change('INSTANCE "VIP" BACKUP 90\n') == ("BACKUP", "90")
    assert state_change('INSTANCE "VIP" STOP') == ("STOP", "0")
    assert state_change('GROUP "G" MASTER') is None
    assert state_change('INSTANCE "VIP" MASTER_RX_LOWER_PRI 100') is None  # still master
    assert state_change("") is None
