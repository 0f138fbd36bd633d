"""What makes a lesson a lesson: a prediction the learner commits to before the experiment, and
exercises checked by tests the notebook does not show.

* `Prediction` is a question with choices and a **commit** button. Once committed the answer is
  fixed (no changing it after the fact); `reveal(actual)` compares it with what the lab did.
* `check(lesson, name, answer, lab)` runs the hidden check `name` from
  `notebooks/checks/<lesson>.py` (a function `name(answer, lab)` that returns None when the
  answer holds, or a hint); the learner sees ✔ or "not yet" with the hint, never a traceback.
  Solutions live apart, in `instructors/solutions.md`.

Both record what happened in the lab's `progress.json` (lesson → predictions and checks), which
an instructor's view of a class can read. In a run without a learner (CI runs every lesson with
nbval) nothing is committed and every check says "not yet": the lesson still runs to its end.
"""

from __future__ import annotations

import html
import importlib.util
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from labkit import atomic

if TYPE_CHECKING:
    from labkit.cluster import Cluster

#: where each lesson's hidden checks live (beside the lessons, not inside them)
CHECKS = Path(__file__).resolve().parents[2] / "notebooks" / "checks"


class Progress:
    """A lab's record of its learner's predictions and checks: `<run dir>/progress.json`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def record(self, lesson: str, kind: str, name: str, value: Any) -> None:
        data = self.read()
        data.setdefault(lesson, {}).setdefault(kind, {})[name] = {"value": value,
                                                                  "at": time.time()}
        atomic.write_json(self.path, data, mode=0o600, indent=1)


class Prediction:
    """Commit to an answer before the experiment; `reveal(actual)` says how it went."""

    def __init__(self, lesson: str, name: str, question: str, choices: list[str],
                 progress: Progress | None = None) -> None:
        self.lesson, self.name, self.choices, self.progress = lesson, name, choices, progress
        self.answer: str | None = None
        self.picker = widgets.RadioButtons(options=choices, value=None,
                                           layout={"width": "max-content"})
        self.commit = widgets.Button(description="commit my prediction", button_style="primary")
        self.commit.on_click(lambda _b: self.choose(self.picker.value))
        self.said = widgets.HTML("")
        self.widget = widgets.VBox([widgets.HTML(f"<b>Predict:</b> {html.escape(question)}"),
                                    self.picker, self.commit, self.said])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def choose(self, choice: str | None) -> None:
        """Commit `choice` (what the button does; code may call it too)."""
        if self.answer is not None:
            return
        if choice not in self.choices:
            self.said.value = "pick one of the answers first"
            return
        self.answer = choice
        self.picker.disabled = self.commit.disabled = True
        self.said.value = f"committed: <b>{html.escape(choice)}</b>"
        if self.progress:
            self.progress.record(self.lesson, "predictions", self.name, choice)

    def reveal(self, actual: str, why: str = "") -> str:
        """Compare the committed answer with what happened; returns (and shows) the text."""
        if actual not in self.choices:
            raise ValueError(f"{actual!r} is not one of the choices {self.choices}")
        if self.answer is None:
            text = f"It was: {actual}. (You did not commit to a prediction.)"
        elif self.answer == actual:
            text = f"✔ You predicted {self.answer}, and so it was."
        else:
            text = f"You predicted {self.answer}; it was {actual}."
        text += f" {why}" if why else ""
        self.said.value = html.escape(text)
        if self.progress:
            self.progress.record(self.lesson, "outcomes", self.name,
                                 {"predicted": self.answer, "actual": actual})
        return text


class Verdict:
    """A check's answer: `passed`, and the text the learner sees."""

    def __init__(self, name: str, passed: bool, text: str) -> None:
        self.name, self.passed, self.text = name, passed, text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.passed else "#e65100"
        return f'<span style="color:{colour}">{html.escape(self.text)}</span>'


def load_check(lesson: str, name: str, folder: Path = CHECKS) -> Callable[[Any, Any], str | None]:
    path = folder / f"{lesson}.py"
    spec = importlib.util.spec_from_file_location(f"labkit_checks_{lesson}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise FileNotFoundError(f"no checks for lesson {lesson} at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check = getattr(module, name, None)
    if not callable(check):
        raise LookupError(f"lesson {lesson} has no check named {name!r}")
    return check


#: a shared part of a check did not decide: the check goes on with its own hints
UNDECIDED = "undecided"


def watcher_gap(answer: Any, poll: float, after: float) -> str | None:
    """What the database lessons' worst-failover-gap checks share (both pairs' standbys run the
    same watcher): the answer must be a number of seconds within the window the watcher's timers
    give (silence noticed up to one `poll` late, promoted up to one `poll` after `after` seconds
    of it, the promotion itself up to about a second); `after` alone gets its own hint. None
    when right, a hint, or UNDECIDED for the tier's own hints to follow."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "give a number of seconds, e.g. 2.5"
    if after + poll - 0.05 <= answer <= after + 2 * poll + 1.1:
        return None
    if abs(answer - after) <= 0.05:
        return ("that is the silence the standby waits for; but its watcher only looks every "
                "POLL seconds, both to notice the silence and to see that it has lasted")
    return UNDECIDED


def check(lesson: str, name: str, answer: Any, lab: Cluster | None = None,
          progress: Progress | None = None, folder: Path = CHECKS) -> Verdict:
    """Run the hidden check `name` of `lesson` on the learner's `answer`. A check that does
    not exist is the lesson's bug, raised; an answer it cannot take is a hint."""
    run = load_check(lesson, name, folder)
    if answer is None or answer is Ellipsis:
        verdict = Verdict(name, False, f"{name}: not yet: write your answer in the cell above "
                                       "and run this one again")
    else:
        try:
            hint = run(answer, lab)
        except Exception as exc:  # noqa: BLE001 - a learner's odd answer is a hint, not a crash
            hint = f"that answer could not be checked ({type(exc).__name__}: {exc})"
        verdict = (Verdict(name, True, f"✔ {name}: right") if hint is None
                   else Verdict(name, False, f"{name}: not yet: {hint}"))
    if progress:
        progress.record(lesson, "checks", name, verdict.passed)
    return verdict


def progress_of(lab: Cluster) -> Progress:
    return Progress(lab.layout.paths.progress)
