"""Apache Cassandra's jars, resolved once from Maven Central and cached for every lab.

Debian ships no Cassandra package, so the server runs from `org.apache.cassandra:cassandra-all`
and its dependencies, which Maven resolves with the small pom next to this module. The jars land
in a cache outside the repository shared by all labs on the machine (`/var/cache/labkit` for root,
`~/.cache/labkit` otherwise, or `$LABKIT_CASSANDRA_LIB`). `make setup` fills it
(`python -m labkit.cassandra.jars`); `labkit up` fills it too if it is still empty.

Java is looked up here as well: Cassandra 5.0 runs on JDK 17, with the module flags in config.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from labkit.errors import LabError

VERSION = "5.0.9"
POM = Path(__file__).with_name("pom.xml")
T = TypeVar("T")
PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies"
MARKER = ".complete"  # written last: a lib directory without it is a broken download
#: native jars built for other machines: dropped, they would only sit in the classpath
PLATFORMS = {"osx-x86_64", "osx-aarch_64", "windows-x86_64", "linux-x86_64", "linux-aarch_64",
             "linux-riscv64"}


def lib_dir() -> Path:
    """Where the jars of this Cassandra version live on this machine."""
    override = os.environ.get("LABKIT_CASSANDRA_LIB")
    if override:
        return Path(override).expanduser()
    if os.geteuid() == 0:
        root = Path("/var/cache/labkit")
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"
    return root / f"cassandra-{VERSION}" / "lib"


def is_complete(lib: Path | None = None) -> bool:
    return ((lib or lib_dir()) / MARKER).exists()


def classpath(lib: Path | None = None) -> list[Path]:
    """The resolved jars (fails with the fix when they were never fetched)."""
    lib = lib or lib_dir()
    if not is_complete(lib):
        raise LabError(f"Cassandra {VERSION}'s jars are not in {lib}",
                       "run `make setup` or `python -m labkit.cassandra.jars` (needs Maven and "
                       "access to Maven Central)")
    return sorted(lib.glob("*.jar"))


def ensure(progress: bool = True) -> Path:
    """Resolve the jars unless the cache has them; returns the lib directory."""
    lib = lib_dir()
    if is_complete(lib):
        return lib
    lib.parent.mkdir(parents=True, exist_ok=True)
    with open(lib.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two labs starting at once resolve only once
        if not is_complete(lib):
            _resolve(lib, progress)
    return lib


def _resolve(lib: Path, progress: bool) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LabError("Maven is needed once, to fetch Cassandra's jars from Maven Central",
                       "run `make setup` (installs the `maven` package) or "
                       "`sudo apt-get install maven`")
    exclude = sorted(PLATFORMS - {f"linux-{_arch()}"})
    with tempfile.TemporaryDirectory(prefix="labkit-mvn-", dir=lib.parent) as tmp:
        out = Path(tmp) / "lib"
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(POM),
               f"-Dmaven.repo.local={Path(tmp) / 'repository'}", f"-Dcassandra.version={VERSION}",
               PLUGIN, f"-DoutputDirectory={out}",
               "-DincludeScope=runtime", f"-DexcludeClassifiers={','.join(exclude)}"]
        log = _run_maven(cmd, progress)
        jars = sorted(p.name for p in out.glob("*.jar")) if out.exists() else []
        if not any(j.startswith("cassandra-all-") for j in jars):
            errors = [x.replace("[ERROR]", "").strip() for x in log if x.startswith("[ERROR]")]
            why = "\n    ".join([e for e in errors if e][:1] or log[-5:])
            raise LabError(f"Maven could not resolve Apache Cassandra {VERSION}:\n    {why}",
                           "check that https://repo.maven.apache.org is reachable (proxy settings "
                           "go in ~/.m2/settings.xml), then run `python -m labkit.cassandra.jars`")
        (out / MARKER).write_text("\n".join(jars) + "\n")
        if lib.exists():
            shutil.rmtree(lib)
        out.rename(lib)


def _run_maven(cmd: list[str], progress: bool) -> list[str]:
    """Run Maven, counting the files it downloads on a progress bar; returns its output lines."""
    from tqdm import tqdm

    lines: list[str] = []
    # in a log (CI, Binder's build) a redrawn bar is hundreds of lines: redraw every 10 s there
    bar = tqdm(desc=f"fetching Cassandra {VERSION} from Maven Central", unit=" files",
               disable=not progress, file=sys.stderr,
               mininterval=0.1 if sys.stderr.isatty() else 10)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise LabError(f"could not run Maven: {exc}", "reinstall the `maven` package") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        if "Downloaded from" in line:
            bar.update(1)
    proc.wait()
    bar.close()
    return lines


def _arch() -> str:
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch_64", "aarch64": "aarch_64"}.get(machine, machine)


# -- Java -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def java_binary() -> str:
    """A Java 17 runtime: $JAVA_HOME, Debian's openjdk-17 path, or `java` on the PATH."""
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    candidates += sorted(Path("/usr/lib/jvm").glob("java-17-openjdk*/bin/java"))
    found = shutil.which("java")
    if found:
        candidates.append(Path(found))
    seen = []
    for java in candidates:
        version = _java_major(java)
        if version == 17:
            return str(java)
        if version is not None:
            seen.append(f"{java} is Java {version}")
    why = "; ".join(seen) if seen else "no `java` was found"
    raise LabError(f"Cassandra {VERSION} needs Java 17 ({why})",
                   "run `make setup` (installs openjdk-17-jre-headless) or "
                   "`sudo apt-get install openjdk-17-jre-headless`")


def _java_major(java: Path) -> int | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        res = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=20)
        m = re.search(r'version "(\d+)(?:\.(\d+))?', res.stderr)
        if m:
            major = int(m.group(1))
            return int(m.group(2) or 0) if major == 1 else major
    return None


def setup_step(step: Callable[[], T]) -> T:
    """Run one of `make setup`'s steps once Java is found; a LabError ends the program with its
    message and its fix (exit status 2)."""
    try:
        java_binary()
        return step()
    except LabError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  → {exc.hint}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    """`python -m labkit.cassandra.jars`: fetch the jars now (used by `make setup`)."""
    lib = setup_step(ensure)
    print(f"Cassandra {VERSION}: {len(classpath(lib))} jars in {lib}")


if __name__ == "__main__":
    main()
