"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from labkit.layout import Layout
from labkit.topology import Topology


@pytest.fixture
def saved_layout(tmp_path, monkeypatch) -> Layout:
    """The default lab's layout, saved in a temporary LABKIT_HOME (nothing started)."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path))
    lay = Layout(lab="unit", topology=Topology.default(), prefix="127.0.9",
                 secrets=Layout.new_secrets())
    lay.save()
    return lay
