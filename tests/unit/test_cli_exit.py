"""The `labkit` command's exit status: a command that ends with typer.Exit(N) exits N."""

from __future__ import annotations

import sys

import pytest
import typer

from labkit import cli


def test_a_typer_exit_code_reaches_the_shell(monkeypatch):
    probe = typer.Typer()

    @probe.command()
    def failing() -> None:
        raise typer.Exit(3)

    @probe.command()
    def fine() -> None:
        pass

    monkeypatch.setattr(cli, "app", probe)
    monkeypatch.setattr(sys, "argv", ["labkit", "failing"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 3
    monkeypatch.setattr(sys, "argv", ["labkit", "fine"])
    cli.main()  # exit status 0: main returns normally


@pytest.mark.parametrize(("args", "words"), [
    (["--rate", "0"], "--rate must be more than 0"),
    (["--duration", "0"], "--duration must be a positive"),
    (["--duration", "-3"], "--duration must be a positive"),
    (["--plan", "nuke"], "unknown chaos plan 'nuke'")])
def test_a_chaos_run_that_means_nothing_exits_2_before_touching_a_lab(monkeypatch, capsys,
                                                                        args, words):
    monkeypatch.setattr(sys, "argv", ["labkit", "chaos", "--lab", "no-such-lab", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    assert words in capsys.readouterr().err.replace("\n", " ")


@pytest.mark.parametrize(("args", "words"), [
    (["list"], "No such command 'list'"),
    (["status", "--no-such-option"], "No such option: --no-such-option")])
def test_a_usage_error_is_one_message_and_exit_2_not_a_traceback(monkeypatch, capsys, args,
                                                                  words):
    """typer 0.29 raises its own copy of click's UsageError: it once escaped as a traceback."""
    monkeypatch.setattr(sys, "argv", ["labkit", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
