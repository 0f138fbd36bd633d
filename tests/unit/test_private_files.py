"""Every secret a lab writes is private from its first byte (issue 14): created 0600 with
`os.open`, never written readable and narrowed after."""

from __future__ import annotations

import os
from pathlib import Path

from labkit import tls
from labkit.db import mysql_server
from labkit.devices import ensure_host_key, host_key_path


def _watch_modes(monkeypatch) -> list[tuple[str, int]]:
    """Every file os.open creates, with the mode it is created with."""
    created: list[tuple[str, int]] = []
    real = os.open

    def recording(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append((str(path), mode))
        return real(path, flags, mode, *args, **kwargs)
    monkeypatch.setattr(os, "open", recording)
    return created


def test_the_tls_key_and_the_ssh_host_key_are_created_private(saved_layout, tmp_path,
                                                               monkeypatch):
    lay = saved_layout
    created = _watch_modes(monkeypatch)
    tls.ensure_certificate(tmp_path / "tls", ["127.0.9.10"], "unit")
    ensure_host_key(lay)
    keys = [m for p, m in created if "key" in Path(p).name]
    assert len(keys) == 2 and set(keys) == {0o600}, created
    assert host_key_path(lay).stat().st_mode & 0o077 == 0
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o077 == 0


def test_mariadbs_init_file_with_the_passwords_is_created_private(saved_layout, monkeypatch):
    lay = saved_layout
    monkeypatch.setattr(mysql_server, "mariadb_binary", lambda: "/usr/sbin/mariadbd")
    monkeypatch.setattr(mysql_server.MariaDB, "initialise", staticmethod(lambda d, b: None))
    created = _watch_modes(monkeypatch)
    from labkit.component import NodeContext
    mysql_server.MariaDB().configure(NodeContext(lay, "node1"))
    init = lay.paths.service("node1", "mysql") / "init.sql"
    assert init.stat().st_mode & 0o077 == 0
    assert [m for p, m in created if ".init.sql." in p] == [0o600]
