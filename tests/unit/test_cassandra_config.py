"""The Cassandra node configuration and the file store's input checks, without a running ring."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labkit.cassandra import config, jars
from labkit.cassandra.store import BadRequest, check_name, level
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import NodeSpec, Topology


def layout(cassandra_nodes: int) -> Layout:
    nodes = [NodeSpec(f"node{i}", (("lb",) if i <= 2 else ())
                      + (("app", "cassandra") if i <= cassandra_nodes else ("app",)))
             for i in range(1, 5)]
    return Layout(lab="unit", topology=Topology(nodes=tuple(nodes)), prefix="127.0.9",
                  secrets=Layout.new_secrets())


@pytest.mark.parametrize("count", [1, 2, 3])
def test_tokens_are_distinct_and_evenly_spaced_over_the_murmur3_ring(count):
    lay = layout(count)
    tokens = [config.token(lay, n) for n in config.ring_nodes(lay)]
    assert len(set(tokens)) == count
    assert all(-(2**63) <= t < 2**63 for t in tokens)
    gaps = {b - a for a, b in zip(tokens, tokens[1:], strict=False)}
    assert len(gaps) <= 1


def test_two_copies_of_everything_and_one_on_a_single_node_ring():
    assert config.replication_factor(layout(2)) == 2
    assert config.replication_factor(layout(3)) == 2
    assert config.replication_factor(layout(1)) == 1


def test_each_node_listens_on_its_own_address_with_its_own_directories(tmp_path):
    lay = layout(2)
    s1 = yaml.safe_load(config.cassandra_yaml(lay, "node1", tmp_path / "n1"))
    s2 = yaml.safe_load(config.cassandra_yaml(lay, "node2", tmp_path / "n2"))
    assert s1["listen_address"] == s1["rpc_address"] == "127.0.9.11"
    assert s2["listen_address"] == "127.0.9.12"
    seeds = s1["seed_provider"][0]["parameters"][0]["seeds"]
    assert seeds == "127.0.9.11:7000,127.0.9.12:7000"
    dirs = [s1["commitlog_directory"], s1["hints_directory"], s1["saved_caches_directory"],
            *s1["data_file_directories"]]
    assert all(Path(d).is_relative_to(tmp_path / "n1") for d in dirs)
    assert s1["auto_bootstrap"] is False and s1["num_tokens"] == 1
    assert s1["authenticator"] == "PasswordAuthenticator"
    # a login must not need both replicas, or a node down locks every client out
    assert s1["auth_read_consistency_level"] == "LOCAL_ONE"


def test_the_jvm_gets_cassandras_java_17_module_flags():
    assert "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED" in config.JPMS
    assert "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED" in config.JPMS


def test_jar_cache_honours_the_override_and_explains_a_missing_download(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_CASSANDRA_LIB", str(tmp_path / "lib"))
    assert jars.lib_dir() == tmp_path / "lib"
    with pytest.raises(LabError) as err:
        jars.classpath()
    assert "labkit.cassandra.jars" in (err.value.hint or "")


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "a b", "x" * 129, "../etc", "ünï"])
def test_bad_file_names_are_refused(name):
    with pytest.raises(BadRequest):
        check_name(name)


@pytest.mark.parametrize("name", ["junos-21.4R3.img", "A", "x" * 128, "vmx_bundle.tgz"])
def test_good_file_names_pass(name):
    assert check_name(name) == name


def test_consistency_levels():
    assert level("quorum") == level("QUORUM") != level("ONE")
    assert level(None) == level("ONE")
    with pytest.raises(BadRequest):
        level("TWO")
