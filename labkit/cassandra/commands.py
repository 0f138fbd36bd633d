"""`labkit files`: device image files in the lab's Cassandra ring, through the VIP."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(no_args_is_help=True, help="Device image files kept in the Cassandra ring.")
LabOpt = typer.Option(None, "--lab", help="Lab name (default: $LABKIT_LAB or 'default').")
LevelOpt = typer.Option(None, "--consistency", "-c",
                        help="Cassandra consistency level: ONE, QUORUM or ALL.")


def _files(lab: str | None):  # noqa: ANN202 - a FilesClient
    from labkit.cluster import Cluster

    return Cluster.attach(lab).files


@app.command()
def put(path: Path = typer.Argument(..., help="The file to upload."),
        name: str | None = typer.Option(None, help="Store it under this name."),
        consistency: str | None = LevelOpt, lab: str | None = LabOpt) -> None:
    """Upload a file (streamed; a progress bar for big ones)."""
    info = _files(lab).put(path, name=name, consistency=consistency)
    Console().print(f"[green]stored[/] {info['name']}: {info['size']} bytes, sha256 "
                    f"{info['sha256'][:16]}…, on {', '.join(info['stored_on'])} via "
                    f"{info['uploaded_via']} at {info['consistency']}"
                    + (f"  [yellow](down now: {', '.join(info['replicas_down'])}; hints will "
                       "bring them the copy)[/]" if info["replicas_down"] else ""))
    if info.get("durability"):
        Console().print(f"  durability: {info['durability']}")


@app.command()
def get(name: str, output: Path | None = typer.Option(None, "-o", "--output",
                                                      help="Where to write (default ./NAME)."),
        consistency: str | None = LevelOpt, lab: str | None = LabOpt) -> None:
    """Download a file and check its SHA-256."""
    res = _files(lab).get(name, output, consistency=consistency)
    Console().print(f"[green]{res['path']}[/]: {res['size']} bytes, sha256 verified "
                    f"(served by {res['served_by']})")


@app.command("ls")
def ls(as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
       consistency: str | None = LevelOpt, lab: str | None = LabOpt) -> None:
    """List the stored files."""
    found = _files(lab).ls(consistency=consistency)
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table("name", "size", "sha256", "uploaded at", "via", "stored on")
    for f in found:
        down = set(f["replicas_down"])
        where = ", ".join(f"[red]{n} (down)[/]" if n in down else n for n in f["stored_on"])
        table.add_row(f["name"], str(f["size"]), f["sha256"][:16] + "…", f["uploaded_at"],
                      f["uploaded_via"], where)
    Console().print(table)


@app.command("rm")
def rm(name: str, consistency: str | None = LevelOpt, lab: str | None = LabOpt) -> None:
    """Delete a file."""
    gone = _files(lab).delete(name, consistency=consistency)
    Console().print(f"deleted {gone['deleted']} ({gone['size']} bytes)")
