"""The driver's NoHostAvailable carries its errors by host, but some of its paths give a list:
either way a refused login is a BadLogin and anything else a LabError naming the first error
(a list once raised AttributeError and stopped a lab's start)."""

from __future__ import annotations

import pytest
from cassandra import AuthenticationFailed
from cassandra.cluster import NoHostAvailable

from labkit.cassandra import client
from labkit.errors import LabError


class Refusing:
    def __init__(self, errors) -> None:
        self.errors = errors

    def __call__(self, *args, **kwargs) -> Refusing:
        return self

    def connect(self) -> None:
        raise NoHostAvailable("Unable to connect to any servers", self.errors)

    def shutdown(self) -> None:
        pass


@pytest.mark.parametrize("errors", [
    {"127.0.1.11:9042": AuthenticationFailed("bad credentials")},
    [AuthenticationFailed("bad credentials")]])
def test_a_refused_login_is_a_bad_login_whatever_the_shape(monkeypatch, saved_layout, errors):
    monkeypatch.setattr(client, "Cluster", Refusing(errors))
    with pytest.raises(client.BadLogin):
        client._connect(saved_layout, None, "labkit", "pw")


@pytest.mark.parametrize("errors", [{"127.0.1.11:9042": OSError("timed out")},
                                    [OSError("timed out")]])
def test_an_unreachable_ring_is_a_lab_error_naming_the_first_error(monkeypatch, saved_layout,
                                                                  errors):
    monkeypatch.setattr(client, "Cluster", Refusing(errors))
    with pytest.raises(LabError, match="timed out"):
        client._connect(saved_layout, None, "labkit", "pw")
