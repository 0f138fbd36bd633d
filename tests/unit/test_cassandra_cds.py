"""Cassandra's class archive (labkit/cassandra/cds.py) without a JVM: which flags a node gets,
what the archive is keyed on, and that the classpath stays one the archive is valid for.
The archive itself is built by `make setup` and checked on the running ring by
tests/integration/test_cassandra_files.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.cassandra import cds, config, jars


@pytest.fixture
def lib(tmp_path, monkeypatch) -> Path:
    """A jar cache of three (empty) jars and a fake JDK whose `release` file can change."""
    folder = tmp_path / "cache" / "lib"
    folder.mkdir(parents=True)
    for name in ("cassandra-all-5.0.9.jar", "jamm-0.4.0.jar", "netty-all.jar"):
        (folder / name).write_bytes(b"")
    (folder / jars.MARKER).write_text("")
    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("")
    (jdk / "release").write_text('JAVA_RUNTIME_VERSION="17.0.13+11-Debian-2"\n')
    monkeypatch.setenv("LABKIT_CASSANDRA_LIB", str(folder))
    monkeypatch.setattr(jars, "java_binary", lambda: str(jdk / "bin" / "java"))
    return folder


def test_no_archive_no_flags_a_node_only_starts_slower(lib):
    assert not cds.archive(lib).exists()
    assert cds.flags(lib) == []
    command = config.jvm_command(lib.parent / "node1", rf="2", share=cds.flags(lib))
    assert not any("SharedArchiveFile" in a for a in command)


def test_a_built_archive_is_mapped_unrelocated_with_the_agents_flag(lib):
    cds.archive(lib).write_bytes(b"archive")
    flags = cds.flags(lib)
    assert flags[-1] == f"-XX:SharedArchiveFile={cds.archive(lib)}"
    # the flag the archive was dumped with must be on when it is mapped, or the JVM ignores it
    assert "-XX:+AllowArchivingWithJavaAgent" in flags and "-XX:+UnlockDiagnosticVMOptions" in flags
    # relocated, every page of it is rewritten: each JVM would hold a private copy
    assert "-XX:ArchiveRelocationMode=0" in flags
    command = config.jvm_command(lib.parent / "node1", rf="2", share=flags)
    assert command[1:1 + len(flags)] == flags  # before the main class and its arguments


def test_the_nodes_classpath_extends_the_archives(lib):
    """The archive is valid only for its dump-time classpath or one that extends it, and it
    cannot hold a non-empty directory: the jars come first, the node's conf/ last."""
    base = lib.parent / "node1"
    command = config.jvm_command(base, rf="2", share=cds.flags(lib))
    path = command[command.index("-cp") + 1].split(":")
    assert path[:-1] == [str(p) for p in jars.classpath(lib)]
    assert path[-1] == str(base / "conf")


def test_the_archive_is_keyed_on_the_jdk_and_the_jars(lib, tmp_path):
    first = cds.archive(lib)
    (tmp_path / "jdk" / "release").write_text('JAVA_RUNTIME_VERSION="17.0.14+7-Debian-1"\n')
    after_jdk_upgrade = cds.archive(lib)
    (lib / "extra-1.0.jar").write_bytes(b"")
    after_new_jar = cds.archive(lib)
    assert len({first, after_jdk_upgrade, after_new_jar}) == 3
    assert first.parent == lib.parent


def test_an_existing_archive_is_not_built_again(lib, monkeypatch):
    cds.archive(lib).write_bytes(b"archive")
    monkeypatch.setattr(cds, "_build", lambda *a: pytest.fail("built again"))
    assert cds.ensure(progress=False) == cds.archive(lib)


def test_a_build_that_writes_nothing_is_an_error_that_says_what_to_do(lib, monkeypatch):
    monkeypatch.setattr(cds, "_run_once", lambda command, base, cql: None)
    with pytest.raises(cds.LabError) as err:
        cds.ensure(progress=False)
    assert "no class archive" in err.value.message
    assert "labkit.cassandra.cds" in (err.value.hint or "")
    assert not cds.archive(lib).exists()
