"""The layers of ARCHITECTURE.md hold: no import loop among labkit modules, no import that runs
from a lower layer to a higher one. The checker is scripts/import-graph; these tests also run it
on a tree made wrong on purpose, so a checker that cannot fail would be seen."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_checker(root: Path):
    loader = importlib.machinery.SourceFileLoader("import_graph", str(root / "scripts" /
                                                                       "import-graph"))
    spec = importlib.util.spec_from_loader("import_graph", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def verdict(checker) -> tuple[list[list[str]], list[tuple[str, str]]]:
    graph = checker.imports(checker.modules())
    return checker.loops(graph), checker.upward(graph)


def test_labkit_has_no_import_loop_and_no_upward_import():
    loops, ups = verdict(load_checker(ROOT))
    assert loops == []
    checker = load_checker(ROOT)
    assert [u for u in ups if u not in checker.ALLOWED_UPWARD] == []


def test_the_checker_sees_a_loop_and_an_upward_import(tmp_path, monkeypatch):
    tree = tmp_path / "repo"
    shutil.copytree(ROOT / "labkit", tree / "labkit")
    (tree / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "import-graph", tree / "scripts" / "import-graph")
    with open(tree / "labkit" / "layout.py", "a") as fh:  # ground importing the facade
        fh.write("\n\ndef _broken():\n    from labkit.cluster import Cluster\n    return Cluster\n")
    checker = load_checker(tree)
    loops, ups = verdict(checker)
    assert ("labkit.layout", "labkit.cluster") in ups
    assert any("labkit.layout" in comp and "labkit.cluster" in comp for comp in loops)
    sys.modules.pop("import_graph", None)
