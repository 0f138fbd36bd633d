"""One supervisord per node: the seed's "application monitoring and automatic recovery".

Each node's programs run under that node's own supervisord (`autorestart=true`), so a killed
service comes back by itself, while killing the supervisor too (a node crash) takes the whole
node down. This module renders the supervisord config, starts the daemon detached, and talks to
it over its unix socket with supervisor's own XML-RPC client.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import xmlrpc.client
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport

from labkit import forkserver, templating, wait
from labkit.errors import LabError
from labkit.layout import RunDir

#: the lab-wide supervisor's name: the programs that belong to no node (segment, fleet)
LAB_SUPERVISOR = "lab"


@dataclass
class Program:
    """One process for a node's supervisor to run and restart (a supervisord [program:x])."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    priority: int = 100  # lower starts first
    startsecs: int = 1
    stopwaitsecs: int = 10
    stopsignal: str = "TERM"
    autorestart: bool = True
    user: str | None = None  # run as this user (servers that refuse root)


class Supervisor:
    """The supervisord of one node (or of the lab's own shared infrastructure)."""

    def __init__(self, name: str, home: Path, log_dir: Path,
                 forkserver: Path | None = None) -> None:
        self.name = name
        self.home = home
        self.log_dir = log_dir
        #: a node's: the socket of the process to fork supervisord from (labkit.forkserver)
        self.forkserver = forkserver

    @classmethod
    def of(cls, paths: RunDir, name: str) -> Supervisor:
        """The supervisor of node `name`, or of the lab-wide programs (`LAB_SUPERVISOR`)."""
        if name == LAB_SUPERVISOR:
            return cls(LAB_SUPERVISOR, paths.lab_services, paths.lab_services / "log")
        return cls(name, paths.node(name), paths.logs(name), forkserver=paths.forkserver)

    @property
    def conf(self) -> Path:
        return self.home / "supervisord.conf"

    @property
    def sock(self) -> Path:
        return self.home / "supervisor.sock"

    @property
    def pidfile(self) -> Path:
        return self.home / "supervisord.pid"

    # -- configuration ------------------------------------------------------------------------
    def write_config(self, programs: list[Program]) -> None:
        """supervisord.conf from templates/supervisord.conf.j2 beside this module."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        lines = [(p, _percent(" ".join(_quote(a) for a in p.command)), _environment(p))
                 for p in programs]
        self.conf.write_text(templating.render(
            __file__, "supervisord.conf.j2", name=self.name, sock=self.sock,
            pidfile=self.pidfile, log_dir=self.log_dir, programs=lines))

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, through: Sequence[str] = (), outside: Sequence[str] = ()) -> int:
        """Start supervisord detached (its own session, so faults can target it); return its pid.

        `through` is a command that execs supervisord in place (`ip netns exec NAME`: the node's
        network namespace), so the pid is still supervisord's own. A node's supervisord is
        forked from the lab's forkserver where one answers (its Python daemons then share their
        imports' memory), else started as a program of its own, through `outside` first when
        the lab lives in namespaces this process is not in (a rootless netns lab: the
        forkserver is inside them already)."""
        if self.pid() is not None:
            return self.pid()  # type: ignore[return-value]
        self.sock.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = self.log_dir / "supervisord.out"
        forked = forkserver.spawn(self.forkserver, argv, through, log, env) \
            if self.forkserver else None
        if forked is not None:
            return self._started(forked, lambda: not _alive(forked))
        if self.name == LAB_SUPERVISOR:  # preloads what the lab's daemons import: they fork from it
            argv[2:3] = ["labkit.forkserver", "supervisord"]
        with open(log, "ab") as out:
            proc = subprocess.Popen([*outside, *through, *argv], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out, start_new_session=True, env=env)
        return self._started(proc.pid, lambda: proc.poll() is not None)

    def _started(self, pid: int, exited: Callable[[], bool]) -> int:
        """Wait for the supervisord just started (`pid`) to answer; note its pid."""
        def answers() -> bool:
            if not self.sock.exists():
                return False
            try:
                self.rpc().getState()
                return True
            except (OSError, xmlrpc.client.Fault):
                return False

        if wait.until(answers, 20, every=0.05, stop=exited):
            self.pidfile.write_text(str(pid))
            return pid
        if exited():
            tail = (self.log_dir / "supervisord.out").read_text(errors="replace")[-1500:]
            raise LabError(f"the supervisor of {self.name} exited at start:\n{tail}",
                           f"see {self.log_dir / 'supervisord.out'}")
        raise LabError(f"the supervisor of {self.name} did not answer within 20s",
                       f"see {self.log_dir / 'supervisord.log'}")

    def pid(self) -> int | None:
        """The supervisord pid if it is alive (a frozen one counts as alive)."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"supervisord" not in fh.read():
                    return None
        except (FileNotFoundError, ProcessLookupError):
            return None
        return pid

    def rpc(self, timeout: float = 3.0) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.sock}")
        transport.timeout = timeout  # type: ignore[attr-defined]
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def programs(self) -> dict[str, dict[str, Any]]:
        """name → supervisord's process info (statename, pid, ...); empty if it does not answer."""
        try:
            return {p["name"]: p for p in self.rpc().getAllProcessInfo()}
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return {}

    def stop(self, timeout: float = 30) -> None:
        """Stop every program, then supervisord itself, and wait for it to be gone."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            self.rpc(timeout=timeout).shutdown()
        wait.until(lambda: self.pid() is None, timeout)
        self.pidfile.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: it has exited, only its parent has not looked)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _quote(arg: str) -> str:
    """Quote a command argument the way supervisord's shlex-based parser reads it back."""
    if arg and all(c.isalnum() or c in "-_./=:,@+%" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _environment(program: Program) -> str:
    """A program's environment as supervisord's KEY="value",... list."""
    return ",".join(f'{k}="{_percent(v)}"' for k, v in sorted(program.environment.items()))


def _percent(text: str) -> str:
    """supervisord expands %(name)s in values; a literal % must be doubled."""
    return text.replace("%", "%%")
