"""Run the `labkit` command in-process, as a learner's shell would, and give its exit code."""

from __future__ import annotations

import sys

from labkit import cli


def run_cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["labkit", *args])
    try:
        cli.main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
