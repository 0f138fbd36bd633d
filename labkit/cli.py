"""The `labkit` command: start, look at, break and mend a lab.

Every command exits non-zero with one plain message (and what to do next) on bad input, and
changes nothing in that case.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from labkit import events as eventlog
from labkit import tiers
from labkit.cluster import Cluster
from labkit.errors import LabError
from labkit.topology import Topology

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="A small real HA cluster to break and watch heal.")
console = Console(stderr=True)
LabOpt = typer.Option(None, "--lab", help="Lab name (default: $LABKIT_LAB or 'default').")
for _tier in tiers.TIERS:  # each tier's own sub-commands (`labkit files`, `labkit devices`)
    for _name, _path in _tier.commands.items():
        app.add_typer(tiers.load(_path), name=_name)


@app.command()
def up(nodes: int | None = typer.Option(None, help="Number of nodes (default 4)."),
       topology: Path | None = typer.Option(None, help="A YAML topology file."),
       backend: str = typer.Option("auto", help="auto (the default: a running lab's own "
                                   "backend; else netns where this machine can run it, local "
                                   "where it cannot, saying why), netns (a network namespace "
                                   "per node, keepalived VRRP; as root, or rootless in a user "
                                   "namespace of the lab's own), local (plain processes "
                                   "on loopback) or compose (Docker containers)."),
       lab: str | None = LabOpt) -> None:
    """Start the lab (idempotent) and return once it answers through its VIP."""
    topo = Topology.load(topology) if topology else None
    t0 = time.monotonic()
    with console.status("starting the lab…") as status:
        def progress(msg: str) -> None:
            status.update(msg + "…")
            console.log(msg)
        cluster = Cluster.up(nodes=nodes, topology=topo, backend=backend, lab=lab,
                             progress=progress)
    console.print(f"[green]lab {cluster.layout.lab} is up[/] ({cluster.layout.backend} backend) "
                  f"in {time.monotonic() - t0:.1f}s: "
                  f"{cluster.layout.vip_url}  (HTTPS {cluster.layout.vip_https_url}); "
                  "its NBI users and passwords: `labkit credentials`")


@app.command()
def credentials(lab: str | None = LabOpt,
                as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
                ) -> None:
    """The NBI's users, roles and passwords for this lab (generated per lab; keep them yours)."""
    from labkit.layout import NBI_USERS, Layout

    layout = Layout.load(lab)
    users = {u: {"role": role, "password": layout.nbi_password(u)}
             for u, role in NBI_USERS.items()}
    if as_json:
        print(json.dumps(users, indent=2))
        return
    table = Table("user", "role", "password", "may")
    for u, facts in users.items():
        table.add_row(u, facts["role"], facts["password"],
                      "everything, deleting too" if facts["role"] == "admin"
                      else "everything but deleting")
    out = Console()
    out.print(table)
    out.print(f"e.g. curl -u learner:{users['learner']['password']} {layout.vip_url}/api/node")


@app.command()
def down(lab: str | None = LabOpt,
         purge: bool = typer.Option(False, help="Also delete the lab's data and run directory.")
         ) -> None:
    """Stop everything of the lab; nothing keeps running or listening."""
    from labkit.layout import Layout

    cluster = Cluster(Layout.load(lab))
    cluster.down(progress=lambda m: console.log(m), purge=purge)
    console.print(f"[green]lab {cluster.layout.lab} is down[/]")


@app.command()
def status(lab: str | None = LabOpt,
           as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
           resources: bool = typer.Option(False, "--resources", help="Resident memory per service.")
           ) -> None:
    """Show nodes, services, the VIP owner and each tier's state."""
    from labkit.layout import Layout

    st = Cluster(Layout.load(lab)).status(resources=resources)
    if as_json:
        print(json.dumps(st, indent=2, default=str))
        return
    out = Console()
    vip = st["vip"]
    owner = vip["owner"] or "nobody"
    out.print(f"lab [bold]{st['lab']}[/] ({st['backend']}, network {st.get('network', '?')}), "
              f"VIP {vip['url']} → [bold]{owner}[/]"
              + ("  [red]SPLIT BRAIN: " + ", ".join(vip["believers"]) + " all think they own it[/]"
                 if vip.get("split_brain") else ""))
    table = Table("node", "address", "state", "roles", "services")
    for n in st["nodes"]:
        colour = {"up": "green", "crashed": "red", "frozen": "blue", "isolated": "yellow"}.get(
            n["state"], "white")
        services = " ".join(f"{k}:{v}" for k, v in n["services"].items())
        table.add_row(n["name"], n["address"], f"[{colour}]{n['state']}[/]", ",".join(n["roles"]),
                      services)
    out.print(table)
    for key, value in st.items():
        if key not in ("lab", "backend", "network", "running", "vip", "nodes"):
            _print_section(out, key, value)


def _print_section(out: Console, key: str, value: object) -> None:
    """A tier's section: its per-instance facts (role, position, lag...) as a table."""
    if key == "resources" and isinstance(value, dict):
        _print_memory(out, value)
        return
    if key == "limits" and isinstance(value, dict):  # the classroom's share (labkit.cgroups)
        out.print(f"[bold red]{value['message']}[/]" if value["oom_kills"] else value["message"])
        return
    instances = value.get("instances") if isinstance(value, dict) else None
    if not isinstance(instances, dict) or not instances:
        out.print(f"[bold]{key}[/]: {json.dumps(value, default=str)}")
        return
    rest = {k: v for k, v in value.items()  # nested facts are in `status --json`
            if k != "instances" and not isinstance(v, dict | list)}
    out.print(f"[bold]{key}[/] " + " ".join(f"{k}={v}" for k, v in rest.items()))
    columns: list[str] = []  # scalar facts only: nested ones are in `status --json`
    for facts in instances.values():
        columns += [c for c, v in facts.items()
                    if c not in columns and not isinstance(v, dict | list)]
    table = Table("instance", *columns)
    for name, facts in instances.items():
        table.add_row(name, *(str(facts.get(c, "")) for c in columns))
    out.print(table)


def _print_memory(out: Console, res: dict) -> None:
    table = Table("node", "service", "RSS MiB", "PSS MiB")
    for node, services in res["rss"].items():
        for service, rss in sorted(services.items()):
            pss = res["pss"].get(node, {}).get(service, 0)
            table.add_row(node, service, f"{rss / 2**20:.1f}", f"{pss / 2**20:.1f}")
    table.add_row("[bold]lab[/]", "[bold]total[/]", f"[bold]{res['total'] / 2**20:.1f}[/]",
                  f"[bold]{res['pss_total'] / 2**20:.1f}[/]")
    out.print(table)
    out.print("RSS counts memory shared between processes once per process; PSS shares it out, "
              "so the PSS total is what the lab really occupies.")


@app.command()
def fail(target: str = typer.Argument(..., help="NODE or NODE/SERVICE, e.g. node1 or node2/app"),
         mode: str = typer.Option("crash", help="crash | freeze | isolate (nodes only)."),
         lab: str | None = LabOpt) -> None:
    """Break a node (crash, freeze, isolate) or kill one service."""
    cluster = Cluster.attach(lab)
    console.print(f"[yellow]{cluster.fail(target, mode)}[/]")


@app.command()
def recover(node: str, lab: str | None = LabOpt) -> None:
    """Bring a crashed, frozen or isolated node back."""
    cluster = Cluster.attach(lab)
    cluster.recover(node)
    console.print(f"[green]{node} recovered[/]")


@app.command()
def reset(lab: str | None = LabOpt) -> None:
    """Make the lab whole between exercises: every broken node recovered, every link fault
    the learner made healed, every app server back in the round robin (data kept)."""
    cluster = Cluster.attach(lab)
    with console.status("mending the lab…") as status:
        def progress(msg: str) -> None:
            status.update(msg + "…")
            console.log(msg)
        done = cluster.reset(progress)
    console.print(f"[green]lab {cluster.layout.lab} is whole[/]: "
                  f"{', '.join(done['recovered']) or 'no node'} recovered, "
                  f"{len(done['healed'])} link fault(s) healed")


@app.command()
def cut(a: str = typer.Argument(..., help="One node, e.g. node1."),
        b: str = typer.Argument(..., help="The other, e.g. node2."),
        one_way: bool = typer.Option(False, "--one-way", help="Drop only frames from A to B."),
        lab: str | None = LabOpt) -> None:
    """Cut the link between two nodes (netns and compose backends)."""
    _link_fault(lab, lambda c: c.cut(a, b, one_way))


@app.command()
def partition(sides: list[str] = typer.Argument(..., help="The sides, split by '/', e.g. "
                                                "node1,node2 / node3,node4"),
              lab: str | None = LabOpt) -> None:
    """Split the lab: every link between the sides is cut (netns and compose backends)."""
    _link_fault(lab, lambda c: c.partition(" ".join(sides)))


@app.command()
def link(a: str = typer.Argument(..., help="One node, e.g. node1."),
         b: str = typer.Argument(..., help="The other, e.g. node2."),
         loss: str | None = typer.Option(None, help="Share of frames dropped, e.g. 5%."),
         rate: str | None = typer.Option(None, help="Most bits per second, e.g. 1mbit."),
         delay: str | None = typer.Option(None, help="How late each frame arrives, e.g. 50ms "
                                          "(netns, compose)."),
         jitter: str | None = typer.Option(None, help="Give or take, with --delay, e.g. 10ms."),
         flap: str | None = typer.Option(None, help="Cut half of each period, up the other "
                                         "half, e.g. 10s."),
         one_way: bool = typer.Option(False, "--one-way", help="Only frames from A to B."),
         lab: str | None = LabOpt) -> None:
    """Make a link lossy, slow, late or flapping (netns and compose backends; late and flapping:
    netns)."""
    _link_fault(lab, lambda c: c.impair(a, b, loss, rate, one_way, flap, delay, jitter))


@app.command()
def heal(lab: str | None = LabOpt) -> None:
    """Remove every link fault (cuts, partitions, lossy or slow links)."""
    was = Cluster.attach(lab).heal()
    console.print(f"[green]healed {len(was)} link fault(s)[/]" if was
                  else "no link fault was in force")


@app.command(name="links")
def show_links(lab: str | None = LabOpt) -> None:
    """The link faults in force."""
    cluster = Cluster.attach(lab)
    faults = cluster.links()
    for f in faults:
        console.print(f["what"])
    if not faults:
        why = cluster.backend.no_link_faults
        console.print("every link carries every frame" +
                      (f" (this backend has no link faults: {why})" if why else ""))


def _link_fault(lab: str | None, do: Callable[[Cluster], Any]) -> None:
    cluster = Cluster.attach(lab)
    do(cluster)
    console.print(f"[yellow]{cluster.events()[-1].get('message')}[/]")


@app.command()
def config(target: str = typer.Argument(..., help="NODE/SERVICE, e.g. node1/apache or "
                                        "node1/mysql (or node1/supervisord)"),
           file: str | None = typer.Option(None, "--file", help="Only this file, e.g. "
                                           "pg_hba.conf."),
           lab: str | None = LabOpt) -> None:
    """Print the config files a service runs with, as `labkit up` rendered them."""
    from labkit.layout import Layout

    files = Cluster(Layout.load(lab)).config_files(target)
    if not files:
        raise LabError(f"{target} has no config file: its settings are its command line, "
                       f"in {target.partition('/')[0]}/supervisord")
    if file is not None:
        if file not in files:
            raise LabError(f"{target} has no file {file!r}; its files are: {', '.join(files)}")
        files = {file: files[file]}
    written = {name: path for name, path in files.items() if path.exists()}
    if not written:
        name, path = next(iter(files.items()))
        raise LabError(f"{target}'s {name} is not written yet (no {path})",
                       "`labkit up` writes it")
    for name, path in files.items():
        if len(files) > 1:  # as head(1) and tail(1) name each of several files
            print(f"==> {path} <=={'' if name in written else '  (not written yet)'}")
        if name in written:
            sys.stdout.write(_config_text(path))
        if len(files) > 1:
            print()


def _config_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:  # a root lab's PostgreSQL data, read by another user
        raise LabError(f"cannot read {path}: {exc.strerror}",
                       "run `labkit config` as the user that started the lab") from None


@app.command()
def events(follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new events."),
           as_json: bool = typer.Option(False, "--json"),
           lab: str | None = LabOpt) -> None:
    """Print the lab's event log (VIP moves, faults, failovers...)."""
    from labkit.layout import Layout

    layout = Layout.load(lab)
    show = (lambda e: print(json.dumps(e))) if as_json else (lambda e: print(eventlog.describe(e)))
    for ev in eventlog.read(layout.events_path):
        show(ev)
    if follow:
        try:
            for ev in eventlog.follow(layout.events_path):
                show(ev)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass


@app.command()
def chaos(duration: float = typer.Option(120, help="Seconds of faults and workload."),
          seed: int = typer.Option(1, help="Same seed, same fault plan."),
          rate: float = typer.Option(10, help="Operations per second per client."),
          plan: str = typer.Option("random", help="random, primary-killer, "
                                   "failover-under-fault, zombie-primary, split-brain or "
                                   "partitions (backends with link faults)."),
          stretch: bool = typer.Option(False, "--stretch", help="Make every step of the plan "
                                       "even when slow recoveries put the run behind it (the "
                                       "run ends later); by default such a step is skipped, "
                                       "and the timeline says so."),
          lab: str | None = LabOpt) -> None:
    """Aimed faults under concurrent clients, then Jepsen-style verdicts per element."""
    from labkit.chaos import run_chaos
    from labkit.chaos.plan import PLANS
    from labkit.chaos.runner import check_arguments

    check_arguments(duration, rate, plan)  # before attaching: a typo needs no running lab
    cluster = Cluster.attach(lab)
    if plan == "split-brain":
        console.print(escape(PLANS[plan]), soft_wrap=True)
    report = run_chaos(cluster, duration, seed, rate, plan=plan, skip_late=not stretch,
                       progress=lambda m: console.log(escape(m)))
    out = Console()
    out.print("[bold]timeline[/]")
    for t, what in report.timeline:
        out.print(f"  t+{t:6.1f}s  {escape(what)}", soft_wrap=True)
    out.print(escape(report.table()), soft_wrap=True)
    out.print(escape(report.summary()), soft_wrap=True)
    out.print(f"history:  {report.history_path}\ntimeline: {report.timeline_path}",
              soft_wrap=True)
    if not report.passed:
        raise typer.Exit(1)


def main() -> None:
    try:
        # outside standalone mode click *returns* a typer.Exit's code instead of raising it
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except LabError as exc:
        # escape: a message quotes what the user wrote ("[lb]" is no markup); soft_wrap: one
        # line stays one line however narrow the terminal
        console.print(f"[red]error:[/] {escape(exc.message)}", soft_wrap=True)
        if exc.hint:
            console.print(f"  → {escape(exc.hint)}", soft_wrap=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:  # click usage errors and the like
        # typer (0.29 on) raises its own copy of click's exceptions (typer._click), not
        # click's: known by what they do (show themselves, carry an exit code), whichever
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None),
                                                                int):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort":
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
