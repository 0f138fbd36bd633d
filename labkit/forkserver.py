"""One Python process per lab that the lab's Python daemons are forked from, so that they share
the memory of their imports (Android's zygote; multiprocessing's forkserver).

Most of the lab's processes are Python: each node's supervisord, app server and database
watchers. Started each with its own interpreter, each paid for its own copy of FastAPI,
pydantic, asyncssh and the database drivers (about 50 MiB for an app server, 60 of the lab's
1 150 MiB in all per app node). Forked from one process that imported them once, their pages
stay shared until one is written (copy-on-write): four app servers' imports took 228 MiB of PSS
as four interpreters and 66 MiB forked from one.

How it goes:

* the lab-wide supervisord is started as `python -m labkit.forkserver supervisord -c CONF`: it
  imports `PRELOAD`, freezes the garbage collector (`gc.freeze()`: a collection writes to every
  object it walks, and would copy every page of them into each child) and becomes supervisord.
  Every process of the lab descends from it, so they all share that one copy;
* supervisord starts each `python -m labkit.…` program by fork *without* exec (`run_in_place`):
  the child runs the module in the process it already is, so the imports stay shared. The same
  for `ip netns exec NS python -m labkit.…` (the child joins the namespace itself). Everything
  else (mariadbd, httpd, java, keepalived) is exec'd as always. Each process is renamed to the
  command it stands for (setproctitle), so `ps` reads as before;
* one of the lab supervisord's programs is the forkserver proper (`python -m labkit.forkserver
  --lab LAB`), answering on `RunDir.forkserver`, a socket only the lab's owner can open.
  `Supervisor.start` sends it the command of a node's supervisord and, on the netns backend,
  the node's network namespace; it forks, the child enters the namespace as `ip netns exec`
  does, starts a session of its own and becomes that supervisord.

Nothing depends on it: without an answering forkserver (killed, or a lab started by an older
labkit), `Supervisor.start` starts supervisord as its own interpreter and the lab runs with more
memory. The compose backend's containers are one node each and exec as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import importlib
import io
import json
import os
import runpy
import signal
import socket
import struct
import sys
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: what the lab's Python daemons import, loaded once here before any fork. The tiers' NBI routes
#: are added from the registry (`tiers.TIERS`); a module that fails to import is skipped (the
#: daemon that needs it will say why when it starts).
PRELOAD = (
    "supervisor.supervisord", "supervisor.xmlrpc",
    "uvicorn", "uvicorn.server", "uvicorn.main", "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl", "uvicorn.lifespan.on",
    "labkit.appserver.__main__", "labkit.appserver.membership",
    "labkit.db.mysql_watch", "labkit.db.pg_watch", "labkit.db.sessions_mysql",
    "labkit.lb.vrrp", "labkit.lb.segment",
    "psycopg", "pymysql", "asyncssh", "cassandra.cluster", "httpx",
)
#: programs run in place of an exec: `python -m` of a module under these names
IN_PLACE: tuple[str, ...] = ("labkit.",)
#: True in this process and every process forked from it once `preload` has run (a process
#: that exec'd a new interpreter starts with False: how a test tells the two apart)
PRELOADED = False
#: how long a request may take to be read or answered
TIMEOUT = 10.0
_CLONE_NEWNS, _CLONE_NEWNET = 0x00020000, 0x40000000
_MS_REC, _MS_SLAVE, _MNT_DETACH = 0x4000, 0x80000, 2


# -- the client: Supervisor.start ----------------------------------------------------------------
def namespace_of(through: Sequence[str]) -> str | None | bool:
    """The network namespace a `through` prefix enters (`ip netns exec NAME`), None for no
    prefix, False for a prefix the forkserver cannot stand in for."""
    if not through:
        return None
    if len(through) == 4 and list(through[:3]) == ["ip", "netns", "exec"]:
        return through[3]
    return False


def spawn(sock: Path, argv: Sequence[str], through: Sequence[str], log: Path,
          env: Mapping[str, str]) -> int | None:
    """Ask the lab's forkserver for a supervisord (`argv`) in the namespace `through` enters,
    its output appended to `log`; its pid, or None when there is no forkserver to ask (the
    caller then starts it the usual way)."""
    netns = namespace_of(through)
    if netns is False or not sock.exists():
        return None
    request = {"argv": list(argv), "netns": netns, "log": str(log), "env": dict(env)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(str(sock))
            s.sendall(json.dumps(request).encode() + b"\n")
            answer = json.loads(_read_line(s) or b"{}")
    except (OSError, ValueError):
        return None
    pid = answer.get("pid")
    return pid if isinstance(pid, int) else None


def answers(sock: Path) -> bool:
    """Whether the forkserver answers and forks (an empty request gets `{"ok": true}`)."""
    return state(sock) is True


def state(sock: Path) -> bool | None:
    """True: the forkserver forks; False: it answers that it cannot (its imports started a
    thread, so every program is exec'd); None: no answer (yet)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(str(sock))
            s.sendall(b"{}\n")
            ok = json.loads(_read_line(s) or b"{}").get("ok")
    except (OSError, ValueError):
        return None
    return ok if isinstance(ok, bool) else None


def _read_line(s: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < 1 << 20:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# -- the server ----------------------------------------------------------------------------------
def preload() -> list[str]:
    """Import what the daemons will, and have supervisord run labkit's programs in place; what
    failed (module names, or why nothing is run in place). Once per process."""
    global PRELOADED
    from labkit import tiers

    if PRELOADED:
        return []
    failed = []
    for name in (*PRELOAD, *(t.routes for t in tiers.TIERS if t.routes)):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing extra is the daemon's own error to give
            failed.append(name)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a fork copies only the forking thread: a lock another held stays held
        return [*failed, f"({threads} threads after the imports: every program is exec'd)"]
    _patch_supervisor()
    PRELOADED = True
    with contextlib.suppress(ImportError):
        import setproctitle

        # it finds the memory that holds the command line only while the environment is the
        # one the interpreter started with: set up here, before a child replaces it
        setproctitle.setproctitle(setproctitle.getproctitle())
    return failed


def serve(sock: Path, rundir: Path) -> None:
    """Answer requests on `sock` for ever. Each one is a JSON line: `{"argv": [...], "netns":
    NAME|null, "log": PATH, "env": {...}}`; the answer is `{"pid": N}` or `{"error": TEXT}`
    (an empty request: `{"ok": PRELOADED}`).
    Only supervisord with a config file inside `rundir` may be asked for, and only by this
    process's own user (or root)."""
    sock.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # private from the first byte: it starts processes as the lab's owner
    try:
        listener.bind(str(sock))
    finally:
        os.umask(old)
    listener.listen(16)
    gc.freeze()
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            try:
                answer = _answer(conn, listener, rundir)
            except (OSError, ValueError) as exc:
                answer = {"error": str(exc)}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(answer).encode() + b"\n")


def _answer(conn: socket.socket, listener: socket.socket, rundir: Path) -> dict[str, Any]:
    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
    if uid not in (0, os.getuid()):
        return {"error": f"uid {uid} may not start this lab's processes"}
    request = json.loads(_read_line(conn) or b"{}")
    if "argv" not in request:
        return {"ok": PRELOADED}
    if not PRELOADED:
        return {"error": "not preloaded: a forked daemon would share nothing"}
    refused = refusal(request, rundir)
    if refused:
        return {"error": refused}
    return {"pid": _fork_detached(request, [conn, listener])}


def refusal(request: Mapping[str, Any], rundir: Path) -> str | None:
    """Why a request is not one the forkserver takes; None when it is."""
    argv = request.get("argv")
    if not (isinstance(argv, list) and len(argv) == 5 and argv[:3] == [
            sys.executable, "-m", "supervisor.supervisord"] and argv[3] == "-c"):
        return "only a supervisord (python -m supervisor.supervisord -c CONF) is forked here"
    conf = Path(os.path.abspath(argv[4]))
    if rundir.resolve() not in conf.resolve().parents:
        return f"{conf} is not a config of this lab (under {rundir})"
    netns = request.get("netns")
    if netns is not None and (not isinstance(netns, str) or "/" in netns or not netns):
        return f"not a network namespace name: {netns!r}"
    if not isinstance(request.get("log"), str) or not isinstance(request.get("env"), dict):
        return "a request needs a log path and an environment"
    return None


def _fork_detached(request: Mapping[str, Any], close: list[socket.socket]) -> int:
    """Fork twice (the grandchild is nobody's child but init's, as a daemon started by the CLI
    is), and return the grandchild's pid."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        try:
            os.close(r)
            for s in close:
                s.close()
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                os.write(w, str(grandchild).encode())
                os._exit(0)
            os.close(w)
            _become(request)
        except BaseException:  # noqa: BLE001 - a forked child must never return into the server
            traceback.print_exc()
        os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    os.waitpid(child, 0)
    if not data:
        raise OSError("the forked child died before it forked the supervisord")
    return int(data)


def _become(request: Mapping[str, Any]) -> None:
    """In the forked child: enter the node's namespace, take the node's output file and
    environment, and run supervisord. Never returns."""
    fd = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if request["netns"]:
        enter_namespace(request["netns"])
    run_in_place(request["argv"], request["env"])


def enter_namespace(name: str) -> None:
    """What `ip netns exec NAME` does before its exec: join the namespace's network stack, and
    mount a sysfs of that stack on /sys in a mount namespace of its own (so /sys/class/net lists
    the node's interfaces, not the host's)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.setns(fd, _CLONE_NEWNET), f"setns into {name}")
    finally:
        os.close(fd)
    check(libc.unshare(_CLONE_NEWNS), "unshare the mount namespace")
    check(libc.mount(b"", b"/", b"none", _MS_REC | _MS_SLAVE, None), "make / a slave mount")
    if libc.umount2(b"/sys", _MNT_DETACH) != 0 and ctypes.get_errno() != errno.EINVAL:
        check(-1, "unmount /sys")
    check(libc.mount(name.encode(), b"/sys", b"sysfs", 0, None), "mount the namespace's sysfs")


# -- running a program in place of exec ----------------------------------------------------------
def run_in_place(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Be `argv` (`python -m MODULE ARGS`) in this process, with environment `env`, then exit
    with its status: what exec would have given, less a new interpreter's memory."""
    gc.freeze()  # what the parent left here is never collected (its sockets keep their fds)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD,
                signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)
    _forget_parent_sockets()
    os.environ.clear()
    os.environ.update(env)
    _fresh_stdio()
    with contextlib.suppress(ImportError):
        import setproctitle

        setproctitle.setproctitle(" ".join(argv))
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as fh:
        fh.write(os.path.basename(argv[0]))  # the name as exec gave it, not the title's start
    module = argv[2]
    sys.argv = [module, *argv[3:]]
    # runpy warns that the module was imported before it runs as __main__: here, on purpose
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="runpy")
    code: Any = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001 - as the interpreter does: the traceback, then 1
        traceback.print_exc()
        code = 1
    os._exit(_exit_status(code))


#: objects inherited from the parent that wrapped its (now closed) file descriptors: kept, never
#: freed, since freeing a socket object closes its descriptor number, by then another's
_INHERITED: list[Any] = []


def _forget_parent_sockets() -> None:
    """A supervisord parent's asyncore map lists its own sockets and pipes, whose descriptors
    supervisord closed in this child; a supervisord started here would poll them as its own."""
    asyncore = sys.modules.get("supervisor.medusa.asyncore_25")
    if asyncore is not None:
        _INHERITED.append(dict(asyncore.socket_map))
        asyncore.socket_map.clear()


def _exit_status(code: Any) -> int:
    with contextlib.suppress(Exception):
        import atexit

        atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code & 0xFF
    else:
        print(code, file=sys.stderr)
        status = 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    return status


def _fresh_stdio() -> None:
    """New stdout and stderr on fds 1 and 2 (supervisord's pipes now), unbuffered as
    PYTHONUNBUFFERED makes them, so nothing the parent had buffered is written twice."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), write_through=True,
                                  line_buffering=True, errors="backslashreplace")
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))


def _patch_supervisor() -> None:
    """supervisord's children run `python -m labkit.…` in place instead of exec'ing it."""
    from supervisor.options import ServerOptions

    plain = ServerOptions.execve

    def execve(self: Any, filename: str, argv: list[str], env: dict[str, str]) -> Any:
        netns, command = _in_place(filename, argv)
        if command:
            if netns:
                enter_namespace(netns)
            run_in_place(command, env)
        return plain(self, filename, argv, env)

    ServerOptions.execve = execve  # type: ignore[method-assign]


def _in_place(filename: str, argv: Sequence[str]) -> tuple[str | None, list[str] | None]:
    """(namespace or None, the `python -m labkit.…` command) of a program that runs in place;
    (None, None) for one that is exec'd."""
    def labkit_module(cmd: Sequence[str]) -> bool:
        return len(cmd) >= 3 and cmd[0] == sys.executable and cmd[1] == "-m" \
            and cmd[2].startswith(IN_PLACE)

    if filename == sys.executable and labkit_module(argv):
        return None, list(argv)
    if os.path.basename(filename) == "ip" and list(argv[1:3]) == ["netns", "exec"] \
            and len(argv) > 4 and labkit_module(argv[4:]):
        return argv[3], list(argv[4:])
    return None, None


def main() -> None:
    """`supervisord -c CONF`: preload, then be the lab's supervisord; `--lab LAB`: serve."""
    if sys.argv[1:2] == ["supervisord"]:
        _preload_or_say()
        gc.freeze()
        run_in_place([sys.executable, "-m", "supervisor.supervisord", *sys.argv[2:]],
                     os.environ.copy())
    import argparse

    from labkit.layout import Layout

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab", required=True)
    layout = Layout.load(parser.parse_args().lab)
    _preload_or_say()
    if not PRELOADED:  # it still answers, that it forks nothing: nodes start the usual way
        print("forkserver: not forking", flush=True)
    serve(layout.paths.forkserver, layout.paths.root)


def _preload_or_say() -> None:
    failed = preload()
    if failed:
        print(f"forkserver: not preloaded (each daemon imports its own): {', '.join(failed)}",
              flush=True)


if __name__ == "__main__":
    main()
