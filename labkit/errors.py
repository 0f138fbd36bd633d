"""One error type for everything a learner can get wrong or the lab can fail at.

Every LabError carries a plain message and, where there is one, the next thing to do, so the CLI
and the notebooks can show both without a stack trace.
"""

from __future__ import annotations


class LabError(Exception):
    """A failure explained for a person: what happened, and what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  → {self.hint}"
