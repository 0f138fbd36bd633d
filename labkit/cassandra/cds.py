"""Cassandra's classes, loaded once per machine: a JVM class data sharing (CDS) archive.

A Cassandra node loads some 11 000 classes at start; each JVM parses and verifies them again and
keeps its own copy in metaspace (~47 MiB per node). The JVM can instead map them from an archive
file built once: start-up skips the parsing (the CQL port answers ~1 s sooner, 3.7 s → 2.6 s
for a lone node here), and the archive's pages are the page cache's, shared by both nodes of the
ring, so each JVM's private memory drops by ~39 MiB and the shared part is counted once.

`make setup` builds it (`python -m labkit.cassandra.cds`): a throwaway node starts on
127.0.0.1 with free ports, with `-XX:ArchiveClassesAtExit`, and writes the archive when it is
stopped. Where the archive is missing or stale (another JDK, other jars: its name carries both),
nodes start without it, only slower; the JVM itself also refuses an archive that does not match
it, and then runs on without one.

Two diagnostic flags come with it, and why:

* `AllowArchivingWithJavaAgent`: Cassandra runs with the `jamm` agent (it measures object sizes
  and transforms no class); the JVM only archives, and later only maps, classes under an agent
  with this flag on both sides, and logs one warning that such an archive is "for testing".
  The archive is built here, by this machine's JVM, from these very jars.
* `ArchiveRelocationMode=0`: map the archive at the address it was built for. JDK 17 moves it
  to a random address by default, which rewrites pointers on every page: each JVM then holds a
  private, dirty copy, and nothing is shared.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labkit import templating
from labkit.cassandra import config, jars
from labkit.cassandra.launch import no_memory_locking
from labkit.component import log_tail, wait_for_port
from labkit.errors import LabError

#: flags every node runs with when the archive exists (the last one names it)
UNLOCK = ["-XX:+UnlockDiagnosticVMOptions", "-XX:+AllowArchivingWithJavaAgent"]
BUILD_START_TIMEOUT = 180.0  # s for the throwaway node's CQL port to answer
BUILD_STOP_TIMEOUT = 60.0  # s for it to write the archive and exit
#: what to do when the build fails (its directory, and the log in it, are gone by then)
RETRY = ("nodes start without the archive (only slower); fix the error above and run "
         "`python -m labkit.cassandra.cds`")


def archive(lib: Path | None = None) -> Path:
    """Where the archive for these jars on this JDK lives (beside the jars' cache)."""
    lib = lib or jars.lib_dir()
    return lib.parent / f"classes-{_key(lib)}.jsa"


def _key(lib: Path) -> str:
    """What the archive is only valid for: the JDK build and the classpath, in order."""
    java = Path(jars.java_binary()).resolve()
    release = java.parent.parent / "release"
    jdk = release.read_text() if release.exists() else str(java)
    digest = hashlib.sha256(jdk.encode())
    for jar in jars.classpath(lib):
        digest.update(jar.name.encode())
    return digest.hexdigest()[:12]


def flags(lib: Path | None = None) -> list[str]:
    """The JVM flags that map the archive; none when it was never built (the node only
    starts slower)."""
    try:
        path = archive(lib)
    except LabError:
        return []
    return [*UNLOCK, "-XX:ArchiveRelocationMode=0", f"-XX:SharedArchiveFile={path}"] \
        if path.exists() else []


def ensure(progress: bool = True) -> Path:
    """Build the archive unless it exists; returns its path."""
    lib = jars.ensure(progress)
    path = archive(lib)
    if path.exists():
        return path
    with open(lib.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two set-ups at once build it once
        if not path.exists():
            _build(lib, path, progress)
    return path


def _build(lib: Path, path: Path, progress: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="labkit-cds-", dir=lib.parent) as tmp:
        base = Path(tmp)
        cql, storage = _free_ports(2)
        config.write_conf(base / "conf", templating.render(
            config.__file__, "cassandra.yaml.j2", node="the class archive's build",
            cluster_name="labkit-cds", initial_token=0, address="127.0.0.1", base=base,
            seeds=[f"127.0.0.1:{storage}"], storage_port=storage, cql_port=cql,
            commitlog_sync="periodic"))
        out = base / "classes.jsa"
        command = config.jvm_command(base, rf="1", share=[*UNLOCK,
                                                          f"-XX:ArchiveClassesAtExit={out}"])
        if progress:
            print("building Cassandra's class archive (a throwaway node starts and stops, "
                  "~10 s)", file=sys.stderr, flush=True)
        _run_once(command, base, cql)
        if not out.exists():
            raise LabError("the JVM wrote no class archive:" + log_tail(base / "jvm.log", 3),
                           RETRY)
        out.chmod(0o644)
        out.rename(path)  # whole or not at all: a node never maps half an archive


def _run_once(command: list[str], base: Path, cql: int) -> None:
    """Start the throwaway node, wait for CQL, stop it cleanly (SIGTERM: the JVM writes the
    archive on its way out)."""
    log = base / "jvm.log"
    with open(log, "wb") as out:  # no memory pinned: as the lab's own nodes (launch.py)
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=base,
                                preexec_fn=no_memory_locking)
    try:
        try:
            wait_for_port("127.0.0.1", cql, BUILD_START_TIMEOUT,
                          "the class archive's throwaway Cassandra", log,
                          alive=lambda: proc.poll() is None)
        except LabError as exc:
            raise LabError(exc.message, RETRY) from None
        proc.send_signal(signal.SIGTERM)
        proc.wait(BUILD_STOP_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def main() -> None:
    """`python -m labkit.cassandra.cds`: build the archive now (used by `make setup`)."""
    started = time.monotonic()
    path = jars.setup_step(ensure)
    size = os.path.getsize(path) / 2**20
    print(f"Cassandra's class archive: {path} ({size:.0f} MiB, "
          f"{time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
