"""The tier registry is the one list of tiers: every path in it resolves, and the start order,
the routes, the workloads, the handles, the CLI sub-apps and the roles all come from it."""

from __future__ import annotations

import pytest

from labkit import tiers
from labkit.cluster import Cluster
from labkit.component import Component, all_components


def paths_of(tier: tiers.Tier) -> list[str]:
    out: list[str] = []
    for entry in tier.components:
        out += list(entry.values()) if isinstance(entry, dict) else [entry]
    out += [p for p in (tier.routes, tier.workloads) if p]
    return out + [*tier.handles.values(), *tier.commands.values()]


def every_path() -> list[str]:
    return [p for tier in tiers.TIERS for p in paths_of(tier)]


@pytest.mark.parametrize("tier", tiers.TIERS, ids=lambda t: t.name)
def test_a_tier_lives_in_its_own_package(tier):
    """One room per tier: every server, route, workload, handle and CLI of a tier is in its
    package, so a newcomer finds the whole tier in one folder."""
    outside = [p for p in paths_of(tier) if not p.startswith(tier.package + ".")]
    assert not outside, f"{tier.name}: {outside} outside {tier.package}"


@pytest.mark.parametrize("path", every_path())
def test_every_registry_entry_names_real_code(path):
    assert tiers.load(path) is not None


def test_a_wrong_entry_is_an_error_not_a_silent_skip():
    with pytest.raises(ModuleNotFoundError):
        tiers.load("labkit.nothing_here:Thing")
    with pytest.raises(AttributeError):
        tiers.load("labkit.lb.apache:NoSuchServer")


def test_start_order_and_the_vip_per_backend():
    local = [type(c).__name__ for c in all_components("local")]
    compose = [type(c).__name__ for c in all_components("compose")]
    assert local == ["MariaDB", "Postgres", "Apache", "Vrrp", "AppServer", "Fleet", "Cassandra"]
    assert compose == [*local[:3], "Keepalived", *local[4:]]
    assert all(isinstance(c, Component) for c in all_components())
    # each component's role is its tier's role
    roles = {t.role for t in tiers.TIERS}
    assert {c.role for c in all_components()} <= roles


def test_cluster_handles_come_from_the_registry():
    lab = Cluster.__new__(Cluster)
    assert {"mysql", "postgres", "devices", "files"} <= set(dir(lab))
    with pytest.raises(AttributeError, match="no attribute 'nosuchtier'"):
        _ = lab.nosuchtier


def test_cli_has_every_tier_command():
    from labkit.cli import app

    names = {g.name for g in app.registered_groups}
    assert names == {n for t in tiers.TIERS for n in t.commands}


def test_the_topology_knows_exactly_the_registrys_roles():
    from labkit.topology import KNOWN_ROLES

    assert set(KNOWN_ROLES) == {"lb", "app", "mysql", "postgres", "cassandra"}
    assert KNOWN_ROLES is tiers.ROLES
