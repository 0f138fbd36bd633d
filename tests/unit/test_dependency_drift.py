"""One source of dependencies: pyproject.toml declares them, requirements.lock pins them (uv, via
`make deps`), and environment.yml (conda) and binder/requirements.txt (repo2docker) are written
from the lock by scripts/gen-deps because their tools read neither. These tests fail when the
lock no longer covers pyproject.toml or a written file is stale, and show that the check can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest itself depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "scripts" / "gen-deps"
LOCK = "requirements.lock"
WRITTEN = ("environment.yml", "binder/requirements.txt")
#: what gen-deps reads and writes: a repository copy with these is enough for it
INPUTS = ("pyproject.toml", "Makefile", LOCK, *WRITTEN)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _makefile(name: str) -> str:
    m = re.search(rf"^{name}\s*:?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert m, f"the Makefile sets no {name}"
    return m.group(1)


def _declared(root: Path, extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def _pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line (comments and options skipped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line!r}"
            pins[_norm(name)] = version
    return pins


def _not_covered(reqs: list[Requirement], pins: dict[str, str]) -> list[str]:
    return [str(r) for r in reqs
            if _norm(r.name) not in pins
            or not r.specifier.contains(pins[_norm(r.name)], prereleases=True)]


def _gen_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(GEN), "--check", "--root", str(root)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    """The repository's dependency files in tmp_path, to be altered by a test."""
    for f in INPUTS:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    return tmp_path


def test_every_declared_dependency_is_in_the_lock() -> None:
    """pyproject.toml's dependencies and the Makefile's EXTRAS, each pinned at a version allowed."""
    reqs = _declared(ROOT, _makefile("EXTRAS").split(","))
    missing = _not_covered(reqs, _pins((ROOT / LOCK).read_text()))
    assert not missing, f"{LOCK} is stale for {missing}: run `make deps`"


def test_a_declaration_the_lock_lacks_is_reported() -> None:
    """The comparison itself notices a missing or out-of-range pin (no vacuous pass)."""
    pins = _pins((ROOT / LOCK).read_text())
    assert _not_covered([Requirement("no-such-package>=1")], pins) == ["no-such-package>=1"]
    plotly = pins["plotly"]
    assert _not_covered([Requirement(f"plotly>{plotly}")], pins) == [f"plotly>{plotly}"]


def test_written_files_are_current_with_the_lock() -> None:
    result = _gen_check(ROOT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("stale", WRITTEN)
def test_check_names_the_file_edited_by_hand(copy: Path, stale: str) -> None:
    path = copy / stale
    path.write_text(path.read_text().replace("plotly==", "plotly>=", 1))
    result = _gen_check(copy)
    assert result.returncode == 1
    assert f"stale: {stale}" in result.stderr
    (other,) = set(WRITTEN) - {stale}
    assert other not in result.stderr


def test_check_fails_when_the_lock_changes_and_the_files_do_not(copy: Path) -> None:
    lock = copy / LOCK
    lock.write_text(re.sub(r"^plotly==\S+", "plotly==6.0.0", lock.read_text(), flags=re.M))
    result = _gen_check(copy)
    assert result.returncode == 1
    for f in WRITTEN:
        assert f"stale: {f}" in result.stderr


def test_check_fails_when_pyproject_declares_what_the_lock_lacks(copy: Path) -> None:
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    assert '    "pydantic>=2",\n' in text
    pyproject.write_text(text.replace('    "pydantic>=2",\n', '    "pydantic>=2",\n'
                                      '    "no-such-package>=1",\n'))
    result = _gen_check(copy)
    assert result.returncode == 1
    assert f"stale: {LOCK}" in result.stderr and "no-such-package" in result.stderr


def test_binder_gets_the_runtime_and_notebook_pins_only() -> None:
    """Everything Binder needs at the lock's versions, and none of the test tools."""
    lock = _pins((ROOT / LOCK).read_text())
    binder = _pins((ROOT / "binder" / "requirements.txt").read_text())
    assert binder.items() <= lock.items()
    assert not _not_covered(_declared(ROOT, ["notebook"]), binder)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for tool in map(Requirement, project["optional-dependencies"]["test"]):
        assert _norm(tool.name) not in binder, f"{tool.name} (test extra) is in Binder's set"


def test_conda_and_binder_use_the_python_of_the_lock() -> None:
    python = _makefile("LOCK_PYTHON")
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == f"python-{python}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert f"python={python}" in env["dependencies"]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert _pins("\n".join(pip)) == _pins((ROOT / LOCK).read_text())
