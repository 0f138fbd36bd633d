"""A lab's saved topology is read back without the schema (`Topology.from_saved`), so its daemons
never load pydantic or PyYAML; what it reads is the same topology, and anything not in the saved
shape still goes through the schema."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labkit.errors import LabError
from labkit.topology import LinkSpec, Topology, VrrpSpec


def test_a_saved_topology_reads_back_as_the_same_topology():
    base = Topology.default()
    busy = Topology(nodes=base.nodes, vrrp=VrrpSpec(advert_interval=0.1),
                    links=(LinkSpec(("node1", "node3"), delay="50ms", jitter="10ms"),
                           LinkSpec(("node2", "node3"), cut=True, one_way=True)))
    for topo in (base, busy):
        assert Topology.from_saved(topo.to_dict()) == topo


def test_an_older_saved_shape_goes_through_the_schema_with_its_defaults():
    old = Topology.default().to_dict()
    del old["lb"], old["links"]  # a layout.json from before those sections
    assert Topology.from_saved(old) == Topology.default()


def test_the_rules_across_nodes_still_hold_for_a_saved_topology():
    saved = Topology.default().to_dict()
    saved["nodes"]["node3"]["roles"] = ["lb"]  # a third load balancer
    with pytest.raises(LabError, match="role 'lb' is on 3 nodes"):
        Topology.from_saved(saved)


def test_a_saved_shape_with_a_wrong_key_is_one_clear_error():
    saved = Topology.default().to_dict()
    saved["vrrp"]["advert"] = 1
    with pytest.raises(LabError, match="vrrp.advert: unknown key"):
        Topology.from_saved(saved)


@pytest.mark.parametrize("daemon", ["labkit.db.mysql_watch", "labkit.db.pg_watch",
                                    "labkit.devices.fleet", "labkit.lb.vrrp",
                                    "labkit.backends.netns.delayer"])
def test_a_daemon_that_reads_its_layout_loads_no_pydantic_and_no_yaml(daemon, saved_layout):
    code = (f"import sys, {daemon}; from labkit.layout import Layout; "
            f"Layout.load({saved_layout.lab!r}); "
            "print(sorted(m for m in ('pydantic', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
