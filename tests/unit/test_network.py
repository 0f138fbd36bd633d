"""Each lab claims its own /24; a claimed or busy /24 is never handed out twice."""

import socket

import pytest

from labkit.backends.local import network


@pytest.fixture(autouse=True)
def claims_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "CLAIMS", tmp_path / "claims")


def test_two_labs_get_two_networks(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    pa, pb = network.claim(a), network.claim(b)
    assert pa != pb
    assert network.owns(pa, a) and not network.owns(pa, b)
    network.release(pa, a)
    assert not network.owns(pa, a)


def test_a_busy_network_is_skipped(tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    first = network.claim(lab)
    network.release(first, lab)
    with socket.socket() as s:
        s.bind((first + ".5", 0))
        s.listen()
        assert first in network.listening_prefixes()
        assert network.claim(lab) != first


def test_reclaim_refuses_another_labs_network(tmp_path):
    from labkit.errors import LabError

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    prefix = network.claim(a)
    with pytest.raises(LabError, match="claimed by another lab"):
        network.reclaim(prefix, b)
