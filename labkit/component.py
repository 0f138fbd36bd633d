"""What every real server of the lab (Apache, the app server, MariaDB, ...) provides.

Each tier package keeps its servers' components beside the rest of the tier (`lb/apache.py`,
`db/mysql_server.py`, `cassandra/server.py`, ...); `all_components()` lists them in start order
from the tier registry.

A component is one kind of server, configured for one node. It writes its configuration under the
node's directory, rendered from a template in its tier's `templates/` folder (`templating.render`),
and says which long-running programs the node's supervisor must keep alive. The backend starts
those programs; the component then says when they are ready, and what it looks like right now.
Cluster-wide steps (setting up replication between two instances, creating a keyspace) go in
`after_up`, which runs once all nodes are started.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from labkit import tiers, wait
from labkit.errors import LabError
from labkit.supervisor import Program

if TYPE_CHECKING:
    from labkit.layout import Layout


@dataclass
class NodeContext:
    """The facts one component needs about the node it is configured for."""

    layout: Layout
    node: str
    #: asks the node's supervisor whether a program keeps failing to start (set by the backend)
    failing: Callable[[str], bool] = field(default=lambda _program: False)

    def alive(self, program: str) -> Callable[[], bool]:
        """A check for wait loops: False once the supervisor reports the program failing."""
        return lambda: not self.failing(program)

    @property
    def address(self) -> str:
        return self.layout.address(self.node)

    @property
    def dir(self) -> Path:
        return self.layout.node_dir(self.node)

    @property
    def log_dir(self) -> Path:
        return self.layout.log_dir(self.node)

    def log(self, program: str) -> Path:
        return self.layout.paths.log(self.node, program)

    def python_program(self, name: str, module: str, *args: str, **options: Any) -> Program:
        """A labkit module run for this node (`python -m MODULE ARGS --lab L --node N`); the
        module reads its lab and node back with `layout.node_program_args`."""
        return Program(name, [sys.executable, "-m", module, *args, "--lab", self.layout.lab,
                              "--node", self.node], **options)

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


class Component(ABC):
    """One real server kind. Subclasses set `role` (the topology role that places them)."""

    role: ClassVar[str]
    #: the supervisor program names this component runs (used by `labkit fail NODE/SERVICE`)
    programs: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def configure(self, ctx: NodeContext) -> list[Program]:
        """Write config files for this node; return the programs its supervisor should run."""

    def config_files(self, layout: Layout, node: str) -> dict[str, Path]:
        """The files this component's servers run with on `node`, by a short name (`httpd.conf`,
        `my.cnf`): what `labkit config NODE/SERVICE` prints. Empty for a server whose settings
        are all on its command line."""
        return {}

    def wait_ready(self, ctx: NodeContext, timeout: float) -> None:  # noqa: B027 - optional hook
        """Block until this node's instance answers; raise LabError with its log tail if not."""

    def after_up(self, layout: Layout, ready_nodes: list[str]) -> None:  # noqa: B027
        """Cluster-wide set-up once every node's programs run (replication, keyspaces...)."""

    def status(self, layout: Layout, live_nodes: list[str]) -> dict[str, Any] | None:
        """A section for `labkit status --json`, or None for none."""
        return None


def server_binary(names: tuple[str, ...], what: str, package: str) -> str:
    """The first of `names` on PATH or in /usr/sbin (which a non-root PATH often lacks)."""
    for name in names:
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                      else None)
        if path:
            return path
    raise LabError(f"{what} is not installed", f"run `make lab` (installs {package}) or "
                   f"`sudo apt-get install {package}`")


def wait_for_port(host: str, port: int, timeout: float, what: str, log: Path | None = None,
                  alive: Callable[[], bool] | None = None) -> None:
    """Wait until a TCP port accepts connections, or fail naming the service and its log tail."""
    def answers() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    if wait.until(answers, timeout, stop=(lambda: not alive()) if alive else None):
        return
    why = (f"it exited before {host}:{port} answered" if alive and not alive()
           else f"{host}:{port} did not answer within {timeout:.0f}s")
    raise start_failure(what, why, log)


def hand_over(path: Path, account: pwd.struct_passwd | None,
              keep: Callable[[Path], bool] = lambda _p: False) -> None:
    """Give `path` and everything under it to a server's own user (`account`; None: the lab is
    not root and owns it already), but the files `keep` says stay the lab's."""
    if account is None:
        return
    for p in [path, *path.rglob("*")]:
        if not keep(p):
            os.chown(p, account.pw_uid, account.pw_gid, follow_symlinks=False)


def log_tail(log: Path | None, lines: int = 15) -> str:
    """The last lines of a log, each on its own indented line ("" when there is none), to end
    an error message with."""
    if log is None or not log.exists():
        return ""
    last = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n    " + "\n    ".join(last) if last else ""


def start_failure(what: str, why: str, log: Path | None) -> LabError:
    """A LabError for a service that would not start, carrying the end of its log."""
    tail = log_tail(log)
    where = f"its log: {log}" if log else "the service's log"
    return LabError(f"{what} failed to start: {why}{tail}", f"read {where}")


def all_components(backend: str = "local") -> list[Component]:
    """Every component, in the order their nodes' programs should come up, as the tier
    registry lists them. The VIP's election is the one part that differs by backend: labkit's
    own VRRP daemon behind the local network segment, keepalived moving a real address on
    compose."""
    return [tiers.load(path)() for path in tiers.component_paths(backend)]
