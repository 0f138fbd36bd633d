"""Every lesson runs top to bottom on a fresh kernel against the shared lab (nbval).

Each notebook ends with a "check yourself" cell that asserts what the learner should have seen,
so a lesson whose story no longer holds fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_lesson_runs_and_its_checks_hold(lab, notebook):
    env = {**os.environ, "LABKIT_LAB": lab.layout.lab}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax",
                          "-p", "no:cacheprovider", "--nbval-cell-timeout", "240", str(notebook)],
                         capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
