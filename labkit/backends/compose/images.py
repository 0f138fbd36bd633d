"""The compose lab's images: a Debian base (debootstrap when none can be pulled), the node.

`compose/node.Dockerfile` starts `FROM debian:bookworm-slim`. On a machine that reaches Docker Hub
that image is pulled as usual; on one that reaches only package registries (CI here), the base is
made from Debian's own packages instead: `debootstrap --variant=minbase` from the Debian mirror this
machine's apt already uses, then `docker import` under the very name the Dockerfile asks for. The
node image is then an ordinary cached `docker build` (apt layer, pip layer, source last).

    python -m labkit.backends.compose.images      # what `make compose-setup` runs
    python -m labkit.backends.compose.images --singleuser   # and the Zero to JupyterHub image
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.errors import LabError

REPO = Path(__file__).resolve().parents[3]
COMPOSE_DIR = REPO / "compose"
DOCKERFILE = COMPOSE_DIR / "node.Dockerfile"
NODE_IMAGE = "labkit-node:latest"
#: One learner's lab and JupyterLab in one container, for Zero to JupyterHub (classroom/)
SINGLEUSER_DOCKERFILE = COMPOSE_DIR / "singleuser.Dockerfile"
SINGLEUSER_IMAGE = "labkit-singleuser:latest"
SUITE = "bookworm"
CACHE = Path("/var/cache/labkit")
SOURCES = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
#: What a debootstrap root needs to pass for the slim image: TLS roots (PyPI, the mirror).
BASE_PACKAGES = ["ca-certificates"]

Progress = Callable[[str], None]


def base_image() -> str:
    """The image named by the Dockerfile's FROM line (one place says which base we use)."""
    match = re.search(r"^FROM\s+(\S+)", dockerfile().read_text(), re.MULTILINE)
    if not match:
        raise LabError(f"{DOCKERFILE} has no FROM line")
    return match.group(1)


def dockerfile() -> Path:
    if not DOCKERFILE.exists():
        raise LabError(f"the compose files are not here ({DOCKERFILE} is missing)",
                       "the compose backend runs from a labkit source checkout (git clone)")
    return DOCKERFILE


def debian_mirrors(sources: list[Path] | None = None) -> tuple[str, str | None]:
    """(main mirror, security mirror) from this machine's apt sources, deb822 or one-line."""
    main: str | None = None
    security: str | None = None
    for path in sources if sources is not None else SOURCES:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        for line in path.read_text(errors="replace").splitlines():
            m = re.match(r"^\s*(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", line)
            if not m:
                continue
            uri = m.group(1).rstrip("/")
            if uri.endswith("/debian-security"):
                security = security or uri
            elif uri.endswith("/debian"):
                main = main or uri
    return main or "http://deb.debian.org/debian", security


def client() -> Any:
    """A Docker SDK client for the engine, or a LabError saying how to get one."""
    try:
        import docker
    except ImportError:
        raise LabError("the docker SDK for Python is not installed",
                       "pip install 'labkit[compose]' (make setup does)") from None
    if Path("/var/run/docker.sock").is_char_device() and not os.environ.get("DOCKER_HOST"):
        # the compose lab's JupyterLab started with DOCKER_SOCKET=/dev/null (compose/README.md)
        raise LabError("this JupyterLab runs without the Docker socket, so it cannot crash, "
                       "freeze or isolate the lab's containers",
                       "break the lab from the host: `labkit fail node1 --mode crash` (a lab "
                       "`labkit up --backend compose` started), or `docker kill`/`docker pause` "
                       "its containers")
    try:
        c = docker.from_env(timeout=300)
        c.ping()
        return c
    except Exception as exc:  # docker raises DockerException, requests errors, OSError...
        raise LabError(f"no Docker engine answers ({type(exc).__name__}: {exc})",
                       "run `make compose-setup` (installs docker.io and starts dockerd, as "
                       "root), or start Docker Desktop") from None


def engine_answers() -> bool:
    try:
        client()
        return True
    except LabError:
        return False


def has_image(engine: Any, name: str) -> bool:
    import docker.errors

    try:
        engine.images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


# -- the base image -------------------------------------------------------------------------------
def ensure_base(docker: Any, progress: Progress) -> float:
    """Make the Dockerfile's base image from debootstrap if the engine lacks it and this machine
    can (root with debootstrap). Returns the seconds spent (0 when nothing was needed)."""
    name = base_image()
    if has_image(docker, name):
        return 0.0
    if shutil.which("debootstrap") is None or not _is_root():
        progress(f"{name} is not here: `docker build` will pull it")
        return 0.0
    t0 = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"compose-base-{SUITE}.tar"
    if not tarball.exists():
        _debootstrap(tarball, progress)
    progress(f"docker import {tarball} as {name}")
    repo, _, tag = name.partition(":")
    docker.api.import_image_from_file(str(tarball), repository=repo, tag=tag or "latest",
                                      changes=['CMD ["bash"]'])
    return time.monotonic() - t0


def _debootstrap(tarball: Path, progress: Progress) -> None:
    mirror, security = debian_mirrors()
    with tempfile.TemporaryDirectory(prefix="labkit-base-", dir="/var/tmp") as work:
        root = Path(work) / "root"
        progress(f"debootstrap --variant=minbase {SUITE} from {mirror} (once; cached in {CACHE})")
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
               SUITE, str(root), mirror]
        _run_with_progress(cmd, progress, "debootstrap")
        _adopt_host_trust(root, mirror, security)
        progress("packing the Debian root")
        tmp = tarball.with_suffix(".tmp")
        # the container runtime gives /dev, /proc and /sys; a pulled slim image has them empty
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "--exclude=./dev/*",
                        "--exclude=./proc/*", "--exclude=./sys/*", "-cf", str(tmp), "."],
                       check=True)
        tmp.replace(tarball)


def _adopt_host_trust(root: Path, mirror: str, security: str | None) -> None:
    """What this machine adds to reach its registries (extra CA roots, pip's CA setting) goes
    into its own base image too; a pulled base image has no need of it."""
    lines = [f"deb {mirror} {SUITE} main", f"deb {mirror} {SUITE}-updates main"]
    if security:
        lines.append(f"deb {security} {SUITE}-security main")
    (root / "etc/apt/sources.list").write_text("\n".join(lines) + "\n")
    extra = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    if extra:
        dest = root / "usr/local/share/ca-certificates"
        dest.mkdir(parents=True, exist_ok=True)
        for crt in extra:
            shutil.copy(crt, dest / crt.name)
        subprocess.run(["chroot", str(root), "update-ca-certificates"], check=True,
                       capture_output=True)
    if Path("/etc/pip.conf").exists():
        shutil.copy("/etc/pip.conf", root / "etc/pip.conf")
    subprocess.run(["chroot", str(root), "apt-get", "clean"], check=False, capture_output=True)


def _run_with_progress(cmd: list[str], progress: Progress, what: str) -> None:
    """Run a long command, passing each line it prints on as progress; fail with its tail."""
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-20:]
            if line.startswith(("I: Retrieving", "I: Validating", "I: Extracting",
                                "I: Installing", "I: Configuring", "I: Base")):
                progress(f"{what}: {line[3:]}")
    if proc.returncode != 0:
        raise LabError(f"{what} failed (exit {proc.returncode}):\n    " + "\n    ".join(tail),
                       "check that this machine reaches its Debian mirror")


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


# -- the node image -------------------------------------------------------------------------------
def build_node(docker: Any, progress: Progress) -> tuple[float, int, int]:
    """`docker build` of compose/node.Dockerfile (cached layers reused); returns (seconds, steps
    run, steps taken from the cache)."""
    return _build(docker, dockerfile(), NODE_IMAGE, progress, _mirror_args())


# -- the singleuser image (Zero to JupyterHub) ----------------------------------------------------
def build_singleuser(docker: Any, progress: Progress) -> tuple[float, int, int]:
    """`docker build` of compose/singleuser.Dockerfile, whose first steps are the node image's
    (same base, servers and packages, taken from its cache: the same build arguments are part of
    the cache key); returns (seconds, steps run, steps taken from the cache)."""
    if not SINGLEUSER_DOCKERFILE.exists():
        raise LabError(f"{SINGLEUSER_DOCKERFILE} is missing",
                       "the singleuser image builds from a labkit source checkout (git clone)")
    return _build(docker, SINGLEUSER_DOCKERFILE, SINGLEUSER_IMAGE, progress, _mirror_args())


def _mirror_args() -> dict[str, str]:
    mirror, security = debian_mirrors()
    return {"DEBIAN_MIRROR": mirror, "DEBIAN_SECURITY_MIRROR": security or ""}


def _build(docker: Any, file: Path, tag: str, progress: Progress,
           buildargs: dict[str, str]) -> tuple[float, int, int]:
    """One cached `docker build` of `file` with the repository as context, its steps passed on
    as progress; returns (seconds, steps run, steps taken from the cache)."""
    t0 = time.monotonic()
    ran = cached = 0
    log: list[str] = []
    step = ""
    stream = docker.api.build(path=str(REPO), dockerfile=str(file.relative_to(REPO)),
                              tag=tag, rm=True, forcerm=True, decode=True, buildargs=buildargs)
    for chunk in stream:
        if "error" in chunk:
            raise LabError(f"the image {tag} did not build: " + chunk["error"].strip()
                           + "\n    " + "\n    ".join(log[-15:]),
                           f"fix {file.relative_to(REPO)} or the packages it installs")
        text = chunk.get("stream", "").rstrip()
        if not text:
            continue
        log.append(text)
        if text.startswith("Step "):
            step = text
        elif "Using cache" in text:
            cached += 1
        elif "Running in" in text:  # a step the cache could not answer: say what runs
            ran += 1
            progress(f"{tag}: " + " ".join(step.split())[:100])
    return time.monotonic() - t0, ran, cached


def ensure_images(progress: Progress) -> dict[str, float]:
    """Base image (only if missing), then the node image (cached build). Returns timings."""
    docker = client()
    base_s = ensure_base(docker, progress)
    node_s, ran, cached = build_node(docker, progress)
    progress(f"node image {NODE_IMAGE} ready in {node_s:.1f}s ({ran} steps run, {cached} cached)")
    return {"base_s": base_s, "node_s": node_s, "steps_run": ran, "steps_cached": cached}


def ensure_singleuser(progress: Progress) -> dict[str, float]:
    """The node image's steps, then the singleuser image FROM it. Returns timings."""
    times = ensure_images(progress)
    su_s, ran, cached = build_singleuser(client(), progress)
    progress(f"singleuser image {SINGLEUSER_IMAGE} ready in {su_s:.1f}s ({ran} steps run, "
             f"{cached} cached)")
    return {**times, "singleuser_s": su_s, "singleuser_steps_run": ran,
            "singleuser_steps_cached": cached}


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    singleuser = "--singleuser" in (sys.argv[1:] if argv is None else argv)

    console = Console(stderr=True)
    try:
        with console.status("compose images…") as status:
            def progress(msg: str) -> None:
                status.update(msg + "…")
                console.log(msg)
            times = (ensure_singleuser if singleuser else ensure_images)(progress)
    except LabError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    console.print(f"base image: {times['base_s']:.1f}s, node image: {times['node_s']:.1f}s "
                  f"({times['steps_run']:.0f} steps run, {times['steps_cached']:.0f} from cache)")
    if singleuser:
        console.print(f"singleuser image: {times['singleuser_s']:.1f}s "
                      f"({times['singleuser_steps_run']:.0f} steps run, "
                      f"{times['singleuser_steps_cached']:.0f} from cache)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
