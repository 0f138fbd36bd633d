"""`labkit db ...`: the database pairs' decisions that only a person may take.

A watcher never promotes a standby that lacks acknowledged commits (the active went on alone),
nor anything while the witness is unreadable: it says why and waits. `labkit db force` is the
operator's way out, and it says plainly what it gives up.
"""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True, help="The MySQL and PostgreSQL pairs: decisions by hand.")


@app.command()
def force(tier: str = typer.Argument(..., help="mysql or postgres"),
          node: str = typer.Argument(..., help="The node whose instance becomes the active."),
          epoch: int | None = typer.Option(None, help="The new epoch (needed when the witness "
                                           "is unreadable: above every epoch seen so far)."),
          lab: str | None = typer.Option(None, "--lab", help="Lab name.")) -> None:
    """Name the active of a new epoch by hand, accepting that commits only the other instance
    had (the ones it acknowledged alone) are lost."""
    from labkit.db import witness
    from labkit.errors import LabError
    from labkit.layout import Layout

    if tier not in ("mysql", "postgres"):
        raise LabError(f"no database tier {tier!r}", "use mysql or postgres")
    Console().print(f"[yellow]{witness.force_by_hand(Layout.load(lab), tier, node, epoch)}[/]")
