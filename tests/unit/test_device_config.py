"""The simulated devices' configuration and NETCONF's edit operations on it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from labkit.devices import config


def edit(xml: str) -> ET.Element:
    return config.unqualified(ET.fromstring(xml))


def test_initial_configuration_is_junos_shaped_and_per_device():
    a, b = config.initial("dev0001", 1), config.initial("dev0002", 2)
    assert a.findtext("system/host-name") == "dev0001"
    assert {i.findtext("name") for i in a.findall("interfaces/interface")} >= {"ge-0/0/0", "lo0"}
    assert a.find("protocols/ospf/area") is not None
    assert config.digest(a) != config.digest(b)
    assert config.digest(a) == config.digest(config.initial("dev0001", 1))


def test_merge_changes_a_leaf_and_adds_a_list_entry_by_name():
    conf = config.initial("dev0001", 1)
    config.merge(conf, edit(
        "<configuration><system><host-name>core1</host-name></system><interfaces><interface>"
        "<name>ge-0/0/9</name><description>new</description></interface></interfaces>"
        "</configuration>"))
    assert conf.findtext("system/host-name") == "core1"
    names = [i.findtext("name") for i in conf.findall("interfaces/interface")]
    assert names.count("ge-0/0/9") == 1 and "ge-0/0/0" in names
    assert conf.findtext("system/ntp/server/name") == "10.255.0.1"  # untouched siblings stay


def test_operations_delete_replace_create():
    conf = config.initial("dev0001", 1)
    nc = config.NC_NS
    config.merge(conf, edit(
        f'<configuration xmlns:nc="{nc}"><interfaces><interface nc:operation="delete">'
        "<name>ge-0/0/1</name></interface></interfaces>"
        '<snmp nc:operation="replace"><location>lab</location></snmp></configuration>'))
    names = [i.findtext("name") for i in conf.findall("interfaces/interface")]
    assert "ge-0/0/1" not in names
    assert conf.findtext("snmp/location") == "lab" and conf.find("snmp/community") is None
    assert not any("operation" in k for e in conf.iter() for k in e.attrib)
    with pytest.raises(config.EditError) as exc:
        config.merge(conf, edit(f'<configuration xmlns:nc="{nc}"><snmp nc:operation="create"/>'
                                "</configuration>"))
    assert exc.value.tag == "data-exists"
    with pytest.raises(config.EditError) as exc:
        config.merge(conf, edit(f'<configuration xmlns:nc="{nc}"><interfaces><interface '
                                'nc:operation="delete"><name>nope</name></interface>'
                                "</interfaces></configuration>"))
    assert exc.value.tag == "data-missing"


def test_default_operation_none_changes_nothing_without_an_explicit_operation():
    conf = config.initial("dev0001", 1)
    before = config.digest(conf)
    config.merge(conf, edit("<configuration><system><host-name>x</host-name></system>"
                            "</configuration>"), "none")
    assert config.digest(conf) == before


def test_subtree_filter_selects_containment_content_match_and_nothing():
    conf = config.initial("dev0001", 1)
    host = config.select(conf, edit("<configuration><system><host-name/></system>"
                                    "</configuration>"))
    assert [e.tag for e in host.iter()] == ["configuration", "system", "host-name"]
    assert host.findtext("system/host-name") == "dev0001"
    one = config.select(conf, edit("<configuration><interfaces><interface><name>ge-0/0/2</name>"
                                   "</interface></interfaces></configuration>"))
    assert [i.findtext("name") for i in one.findall("interfaces/interface")] == ["ge-0/0/2"]
    assert one.findtext("interfaces/interface/mtu") == "9192"  # the whole matching entry
    descs = config.select(conf, edit("<configuration><interfaces><interface><name>ge-0/0/2"
                                     "</name><description/></interface></interfaces>"
                                     "</configuration>"))
    assert [c.tag for c in descs.find("interfaces/interface")] == ["name", "description"]
    nothing = config.select(conf, edit("<configuration><interfaces><interface><name>xe-9/9/9"
                                       "</name></interface></interfaces></configuration>"))
    assert nothing.tag == "configuration" and len(nothing) == 0
    assert len(config.select(conf, edit("<configuration><bogus/></configuration>"))) == 0
    assert config.digest(config.select(conf, edit("<configuration/>"))) == config.digest(conf)


def test_an_unknown_operation_names_the_attribute_and_the_element():
    conf = config.initial("dev0001", 1)
    with pytest.raises(config.EditError) as exc:
        config.merge(conf, edit(f'<configuration xmlns:nc="{config.NC_NS}"><snmp '
                                'nc:operation="explode"/></configuration>'))
    assert exc.value.tag == "bad-attribute" and exc.value.kind == "protocol"
    assert exc.value.info == {"bad-attribute": "operation", "bad-element": "snmp"}
