"""The servers' configs come from the templates beside their tiers, and `labkit config` prints
them, without starting anything: every template renders with StrictUndefined for the default
lab, a value left out is an error, and a bad NODE/SERVICE is one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml

from labkit import templating
from labkit.cassandra import config as cassandra_config
from labkit.cassandra import jars
from labkit.component import NodeContext
from labkit.db import mysql_server, pg_node
from labkit.layout import Layout
from labkit.lb import apache, keepalived
from labkit.supervisor import Supervisor
from labkit.topology import Topology
from tests.unit.cli_run import run_cli

LABKIT = Path(templating.__file__).resolve().parent


@pytest.fixture
def layout(tmp_path, monkeypatch) -> Layout:
    """The default lab's layout in a temporary LABKIT_HOME (a fixed /24: nothing is claimed),
    with the server binaries and Cassandra's jars stood in for."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setattr(apache, "apache_binary", lambda: "/usr/sbin/apache2")
    monkeypatch.setattr(apache, "module_dir", lambda: Path("/usr/lib/apache2/modules"))
    monkeypatch.setattr(mysql_server, "mariadb_binary", lambda: "/usr/sbin/mariadbd")
    monkeypatch.setattr(mysql_server.MariaDB, "initialise", staticmethod(lambda data, base: None))
    monkeypatch.setattr(jars, "classpath", lambda: [Path("/jars/jamm-0.4.0.jar")])
    monkeypatch.setattr(jars, "java_binary", lambda: "/usr/bin/java")
    lay = Layout(lab="unit", topology=Topology.default(), prefix="127.0.9",
                 secrets=Layout.new_secrets())
    lay.save()
    return lay


def configure_node1(lay: Layout) -> None:
    """What `labkit up` writes for node1's Apache and MariaDB, and its supervisor's config."""
    ctx = NodeContext(lay, "node1")
    programs = apache.Apache().configure(ctx) + mysql_server.MariaDB().configure(ctx)
    Supervisor.of(lay.paths, "node1").write_config(programs)


def render_every_config(lay: Layout, tmp_path: Path) -> None:
    configure_node1(lay)
    cassandra_config.render(lay, "node1")
    keepalived.render(lay, "node1", "eth0")
    node = pg_node.PgNode.__new__(pg_node.PgNode)  # initdb's file writes, without initdb
    node.layout, node.data, node.base, node.account = lay, tmp_path / "pg", tmp_path, None
    node.data.mkdir()
    node.tool = lambda *args, **kwargs: None
    node.initdb()


def test_every_template_renders_for_the_default_lab(layout, tmp_path, monkeypatch):
    rendered: list[str] = []
    real = templating.render

    def recording(package_file: str, name: str, /, **values: object) -> str:
        rendered.append(str(templating.template_dir(package_file) / name))
        return real(package_file, name, **values)

    monkeypatch.setattr(templating, "render", recording)
    render_every_config(layout, tmp_path)
    assert set(rendered) == {str(p) for p in LABKIT.rglob("templates/*.j2")}


def test_the_rendered_configs_are_what_the_servers_read(layout, tmp_path):
    render_every_config(layout, tmp_path)
    conf = cassandra_config.conf_dir(layout, "node1")
    assert yaml.safe_load((conf / "cassandra.yaml").read_text())["initial_token"] == str(-2**63)
    hba = (tmp_path / "pg" / "pg_hba.conf").read_text()
    assert "host replication all 127.0.9.0/24 scram-sha-256\n" in hba
    assert "\nwal_level = replica\n" in (tmp_path / "pg" / "postgresql.conf").read_text()
    httpd = (layout.paths.service("node1", "apache") / "httpd.conf").read_text()
    assert 'BalancerMember "http://127.0.9.14:8000" route=node4 ' in httpd
    assert "{{" not in httpd and "{%" not in httpd


def balancers(httpd: str) -> dict[str, list[str]]:
    """The BalancerMember lines of each `<Proxy "balancer://...">` block of an httpd.conf."""
    found: dict[str, list[str]] = {}
    name = None
    for line in httpd.splitlines():
        words = line.split()
        if words[:1] == ["<Proxy"]:
            name = words[1].strip('">')
            found[name] = []
        elif words[:1] == ["</Proxy>"]:
            name = None
        elif words[:1] == ["BalancerMember"] and name:
            found[name].append(line)
    return found


def test_the_topologys_balancer_timers_land_in_httpd_conf(tmp_path, monkeypatch):
    """lb.health_check_interval → hcinterval (in ms), member_timeout → the members' timeout= and
    ProxyTimeout (what a health check waits before httpd 2.4.55), slow_timeout → the slow
    routes' balancer, retry → retry=."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setattr(apache, "module_dir", lambda: Path("/usr/lib/apache2/modules"))
    data = Topology.default().to_dict() | {"lb": {"health_check_interval": 0.3,
                                                  "member_timeout": 2, "slow_timeout": 7,
                                                  "retry": 4, "fail_on_timeout": True}}
    lay = Layout(lab="unit", topology=Topology.from_dict(data), prefix="127.0.9",
                 secrets=Layout.new_secrets())
    lay.save()
    httpd = apache.Apache().config_text(NodeContext(lay, "node1"), tmp_path)
    found = balancers(httpd)
    assert set(found) == {"balancer://app", "balancer://app-slow"}
    for name, timeout in (("balancer://app", 2), ("balancer://app-slow", 7)):
        assert len(found[name]) == 4
        for line in found[name]:
            words = line.split()
            assert {"hcinterval=300ms", "retry=4", f"timeout={timeout}", "hcfails=1"} \
                <= set(words), line
    assert "\nProxyTimeout 2\n" in httpd
    proxysets = [line.split() for line in httpd.splitlines() if line.split()[:1] == ["ProxySet"]]
    # failontimeout on balancer://app only: a slow route's answer is slow, not a dead member
    assert ["failontimeout=On" in words for words in proxysets] == [True, False]
    for route in apache.SLOW_ROUTES:
        assert f'ProxyPass "{route}" "balancer://app-slow{route}"' in httpd
    # the slow routes come before "/", or "/" would take them (the first match wins)
    assert httpd.index('ProxyPass "/api/notes"') < httpd.index('ProxyPass "/" ')


def test_a_default_lab_takes_a_frozen_member_out_within_about_a_second(layout):
    httpd = apache.Apache().config_text(NodeContext(layout, "node1"),
                                        layout.paths.service("node1", "apache"))
    main = balancers(httpd)["balancer://app"][0].split()
    assert "hcinterval=200ms" in main and "timeout=1" in main and "retry=1" in main
    assert not any("failontimeout" in line for line in httpd.splitlines()
                   if line.split()[:1] == ["ProxySet"])


def test_a_value_the_template_needs_but_is_not_given_raises(tmp_path):
    with pytest.raises(jinja2.UndefinedError):
        templating.render(apache.__file__, "httpd.conf.j2", node="node1")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "x.conf.j2").write_text("port={{ port }}\n")
    assert templating.render(str(tmp_path / "mod.py"), "x.conf.j2", port=1) == "port=1\n"
    with pytest.raises(jinja2.UndefinedError):
        templating.render(str(tmp_path / "mod.py"), "x.conf.j2")


def test_labkit_config_prints_the_file_the_server_runs_with(layout, monkeypatch, capsys):
    configure_node1(layout)
    assert run_cli(monkeypatch, "config", "node1/apache", "--lab", "unit") == 0
    out = capsys.readouterr().out
    assert out == (layout.paths.service("node1", "apache") / "httpd.conf").read_text()
    assert "ProxySet lbmethod=byrequests" in out
    assert run_cli(monkeypatch, "config", "node1/mysqlwatch", "--file", "my.cnf",
                   "--lab", "unit") == 0
    assert "rpl-semi-sync-master-wait-point=AFTER_SYNC" in capsys.readouterr().out
    assert run_cli(monkeypatch, "config", "node1/supervisord", "--lab", "unit") == 0
    assert "[program:apache]" in capsys.readouterr().out


@pytest.mark.parametrize("args, names", [
    (["node9/apache"], "node1, node2, node3, node4"),
    (["node1/nope"], "mysql, mysqlwatch, postgres, pgwatch, apache, vrrp, app, cassandra, "
                      "supervisord"),
    (["node3/mysql"], "app, supervisord"),
    (["node1/mysql", "--file", "httpd.conf"], "my.cnf"),
    (["node3/app"], "node3/supervisord"),
])
def test_a_bad_target_is_one_line_and_exit_status_2(layout, monkeypatch, capsys, args, names):
    configure_node1(layout)
    assert run_cli(monkeypatch, "config", *args, "--lab", "unit") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and names in lines[0]


def test_a_file_not_written_yet_says_so(layout, monkeypatch, capsys):
    assert run_cli(monkeypatch, "config", "node2/postgres", "--lab", "unit") == 2
    assert "not written yet" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["periodic", "batch"])
def test_the_topology_chooses_cassandras_commitlog_sync(tmp_path, monkeypatch, mode):
    """`cassandra: {commitlog_sync: batch}` fsyncs before acknowledging; periodic keeps its
    10 s period (batch has none: Cassandra refuses a period beside it)."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    monkeypatch.setattr(jars, "classpath", lambda: [Path("/jars/jamm-0.4.0.jar")])
    monkeypatch.setattr(jars, "java_binary", lambda: "/usr/bin/java")
    data = Topology.default().to_dict() | {"cassandra": {"commitlog_sync": mode}}
    lay = Layout(lab="unit", topology=Topology.from_dict(data), prefix="127.0.9",
                 secrets=Layout.new_secrets())
    lay.save()
    cassandra_config.render(lay, "node1")
    conf = yaml.safe_load((cassandra_config.conf_dir(lay, "node1") / "cassandra.yaml").read_text())
    assert conf["commitlog_sync"] == mode
    assert ("commitlog_sync_period" in conf) == (mode == "periodic")


def test_an_upload_answer_says_what_its_acknowledgement_promises():
    from labkit.cassandra.store import durability
    one = durability("ONE", "periodic", 2)
    assert "one replica only" in one and "within 10 s" in one
    assert "one replica only" not in durability("QUORUM", "periodic", 2)
    assert "fsynced to its commit log before" in durability("ONE", "batch", 2)


def test_the_balancers_upload_limit_lets_the_largest_stored_file_through():
    from labkit.appserver import limits
    from labkit.cassandra.store import MAX_SIZE
    assert limits.UPLOAD_LIMIT > MAX_SIZE > limits.BODY_LIMIT
