"""pyproject.toml is the one source of the dependency set; environment.yml (conda users) and
binder/requirements.txt (Binder) repeat it because their tools cannot read pyproject.toml.
These tests fail as soon as a package is added to, dropped from or re-pinned in one of them only.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
#: conda entries that are the environment itself, not one of the project's dependencies
CONDA_TOOLING = {"python", "pip"}


def _key(req: str) -> tuple[str, str]:
    """(normalised name, version specifier): extras such as [binary] are a pip-only detail."""
    r = Requirement(req)
    return re.sub(r"[-_.]+", "-", r.name).lower(), str(r.specifier)


def _pyproject() -> dict[str, set[tuple[str, str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"dependencies": {_key(r) for r in project["dependencies"]}}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[extra] = {_key(r) for r in reqs}
    return groups


def _environment_yml() -> set[tuple[str, str]]:
    deps: set[tuple[str, str]] = set()
    for entry in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]:
        items = entry["pip"] if isinstance(entry, dict) else [entry]
        for item in items:
            item = str(item).split("#")[0].strip()
            if item.startswith("-e") or item.startswith("."):
                continue  # the project itself
            key = _key(item.replace(" ", ""))
            if key[0] not in CONDA_TOOLING:
                deps.add(key)
    return deps


def _requirements_txt(path: Path) -> set[tuple[str, str]]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {_key(line) for line in lines if line and not line.startswith("-")}


def _drift(expected: set[tuple[str, str]], found: set[tuple[str, str]]) -> str:
    return (f"only in pyproject.toml: {sorted(expected - found)}; "
            f"only in the other file: {sorted(found - expected)}")


def test_environment_yml_has_every_dependency_and_extra_of_pyproject() -> None:
    expected = set().union(*_pyproject().values())
    found = _environment_yml()
    assert found == expected, _drift(expected, found)


def test_binder_requirements_are_the_runtime_and_notebook_dependencies() -> None:
    groups = _pyproject()
    expected = groups["dependencies"] | groups["notebook"]
    found = _requirements_txt(ROOT / "binder" / "requirements.txt")
    assert found == expected, _drift(expected, found)


def test_a_package_missing_from_one_side_is_reported() -> None:
    """The comparison itself notices a dropped package (guards against a vacuous test)."""
    expected = set().union(*_pyproject().values())
    some = sorted(expected)[0]
    assert expected - {some} != expected
    assert some[0] in _drift(expected, expected - {some})
