"""`labkit devices ...` and `labkit jobs ...`: the device tier from the command line."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from labkit.cluster import Cluster
from labkit.errors import LabError

devices_app = typer.Typer(no_args_is_help=True, help="The managed devices (NETCONF fleet).")
jobs_app = typer.Typer(no_args_is_help=True, help="Device jobs (resync) and their sub-jobs.")
console = Console(stderr=True)
LabOpt = typer.Option(None, "--lab", help="Lab name (default: $LABKIT_LAB or 'default').")


def _bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def _wait_connected(cluster: Cluster, timeout: float) -> float:
    with _bar() as bar:
        task = bar.add_task("devices connected", total=None)

        def show(st: dict) -> None:
            if "error" not in st:
                bar.update(task, total=st["total"] or 1, completed=st["connected"])
        return cluster.devices.wait_connected(timeout=timeout, progress=show)


def _print_counts(cluster: Cluster) -> None:
    st = cluster.devices.status()
    if "error" in st:
        raise LabError(st["error"], "is MySQL up? see `labkit status`")
    table = Table("node", "devices")
    for node, n in st["counts"].items():
        table.add_row(node, str(n))
    Console().print(table)
    Console().print(f"{st['connected']} of {st['total']} discovered devices connected "
                    f"(fleet of {st['fleet']})")


@devices_app.command()
def discover(count: int = typer.Argument(..., help="Discover dev0001..devN of the fleet."),
             wait: bool = typer.Option(True, help="Wait until every device is connected."),
             timeout: float = typer.Option(180, help="Seconds to wait for the sessions."),
             lab: str | None = LabOpt) -> None:
    """Discover devices: each goes to the live node with the fewest devices."""
    cluster = Cluster.attach(lab)
    size = cluster.layout.topology.devices.count
    if not 1 <= count <= size:
        raise LabError(f"the fleet has {size} devices: discover 1..{size}, not {count}",
                       "set devices: {count: N} in the topology for a larger fleet")
    answer = cluster.devices.discover(count)
    console.print(f"discovered {len(answer['discovered'])} new device(s) "
                  f"({answer['already_known']} already known), placed {answer['placed']}")
    if wait:
        took = _wait_connected(cluster, timeout)
        console.print(f"[green]all connected[/] after {took:.1f}s")
    _print_counts(cluster)


@devices_app.command()
def rebalance(onto: str | None = typer.Option(None, help="Only these nodes, e.g. node1,node2."),
              wait: bool = typer.Option(True, help="Wait until every device is connected."),
              lab: str | None = LabOpt) -> None:
    """Even out the devices over the live nodes (moving as few as possible)."""
    cluster = Cluster.attach(lab)
    nodes = [n.strip() for n in onto.split(",") if n.strip()] if onto else None
    answer = cluster.devices.rebalance(nodes)
    console.print(f"moved {answer['moved']} device(s)")
    if wait:
        _wait_connected(cluster, 180)
    _print_counts(cluster)


@devices_app.command("list")
def list_devices(as_json: bool = typer.Option(False, "--json"), lab: str | None = LabOpt) -> None:
    """Devices per node, and how many are connected."""
    cluster = Cluster.attach(lab)
    if as_json:
        print(json.dumps(cluster.devices.status(), indent=2))
        return
    _print_counts(cluster)


@devices_app.command()
def forget(all_devices: bool = typer.Option(False, "--all", help="Required: forget every one."),
           lab: str | None = LabOpt) -> None:
    """Forget every discovered device (their sessions close; the fleet keeps running)."""
    if not all_devices:
        raise LabError("forget needs --all", "run `labkit devices forget --all`")
    gone = Cluster.attach(lab).devices.forget()
    console.print(f"forgot {gone} device(s)")


@devices_app.command()
def fail(devices: list[str] = typer.Argument(..., help="Device names, e.g. dev0007."),
         seconds: float | None = typer.Option(None, "--for", help="Come back by itself after "
                                                                   "this many seconds."),
         lab: str | None = LabOpt) -> None:
    """Make devices fail: their sessions drop and their SSH port closes."""
    failed = Cluster.attach(lab).devices.fail(devices, seconds)
    console.print(f"[yellow]failed {', '.join(failed)}[/]"
                  + (f" for {seconds:g}s" if seconds else " until `labkit devices restore`"))


@devices_app.command()
def restore(devices: list[str] | None = typer.Argument(None, help="Default: every failed one."),
            lab: str | None = LabOpt) -> None:
    """Bring failed devices back."""
    back = Cluster.attach(lab).devices.restore(devices or None)
    console.print(f"[green]restored {', '.join(back) or 'nothing (none was failed)'}[/]")


@devices_app.command()
def latency(ms: float = typer.Argument(..., help="Milliseconds each RPC answer takes."),
            devices: list[str] | None = typer.Argument(None, help="Default: every device."),
            lab: str | None = LabOpt) -> None:
    """Set how slowly devices answer."""
    n = Cluster.attach(lab).devices.set_latency(ms, devices or None)
    console.print(f"{n} device(s) now answer after {ms:g} ms")


@jobs_app.command()
def resync(count: int | None = typer.Argument(None, help="The first N discovered devices "
                                                          "(default: all)."),
           wait: bool = typer.Option(True, help="Follow the job until it ends."),
           lab: str | None = LabOpt) -> None:
    """Resynchronize devices: one sub-job per node, each on the devices that node serves."""
    if count is not None and count < 1:
        raise LabError(f"count must be at least 1, not {count}")
    cluster = Cluster.attach(lab)
    job = cluster.devices.resync(count, wait=False)
    console.print(f"job {job['id']}: {job['total']} devices in {len(job['subjobs'])} sub-jobs")
    if not wait:
        return
    with _bar() as bar:
        tasks: dict[int, int] = {}
        overall = bar.add_task(f"job {job['id']}", total=job["total"])

        def show(j: dict) -> None:
            bar.update(overall, completed=j["done"])
            for sj in j["subjobs"]:
                if sj["id"] not in tasks:
                    tasks[sj["id"]] = bar.add_task(f"  {sj['node']} sub-job {sj['id']}",
                                                   total=sj["total"])
                bar.update(tasks[sj["id"]], completed=sj["done"],
                           description=f"  {sj['node']} sub-job {sj['id']} {sj['state']}")
        job = cluster.devices.wait_job(job["id"], progress=show)
    _print_job(job)
    if job["state"] != "done":
        raise typer.Exit(1)


def _print_job(job: dict) -> None:
    out = Console()
    took = f"{job['duration']:.2f}s" if job["duration"] is not None else "still running"
    out.print(f"job {job['id']} {job['state']}: {job['done']}/{job['total']} devices in {took}")
    table = Table("sub-job", "node", "state", "devices", "attempt", "took")
    for sj in job["subjobs"]:
        table.add_row(str(sj["id"]), sj["node"] or "-", sj["state"], f"{sj['done']}/{sj['total']}",
                      str(sj["attempt"]), f"{sj['duration']:.2f}s" if sj["duration"] else "-")
    out.print(table)


@jobs_app.command()
def show(job_id: int = typer.Argument(..., help="The job's id."),
         as_json: bool = typer.Option(False, "--json"), lab: str | None = LabOpt) -> None:
    """One job with its sub-jobs, progress and timings."""
    job = Cluster.attach(lab).devices.job(job_id)
    if as_json:
        print(json.dumps(job, indent=2))
    else:
        _print_job(job)
