"""The compose backend: each node is a container of one image, on the lab's own Docker bridge.

`up` builds the image if needed (labkit.backends.compose.images) and runs `docker compose` on
compose/docker-compose.yml with the lab's subnet and run directory; each container runs
`labkit.backends.compose.node`, which starts the same component programs as the local backend
under one supervisord, with keepalived instead of labkit's VRRP daemon. The host then waits for
the components exactly as on the local backend (it reaches every container's address over the
bridge, and every supervisor through its socket in the shared run directory).

Faults go through the Docker API: crash = kill the container, freeze = pause it (the cgroup
freezer), isolate = disconnect it from the lab network. `recover` undoes each. Faults on links
(cut, partition, loss, rate) are an nftables table in each receiving container, written through
`docker exec` (labkit.backends.compose.link_rules).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from typing import Any

import yaml

from labkit.backends.base import Backend, Progress
from labkit.backends.compose import images, link_rules, network
from labkit.errors import LabError
from labkit.layout import home
from labkit.links import LinkFault
from labkit.supervisor import LAB_SUPERVISOR, Supervisor
from labkit.topology import Topology

COMPOSE_FILE = images.COMPOSE_DIR / "docker-compose.yml"
FLEET = "fleet"
HELPER_LABEL = "labkit.links-helper"  #: the short-lived writers of a paused container's rules
INTERFACE_BOUND = ("keepalived", "app")  # restarted when an isolated node is reconnected
SNAPSHOT_TTL = 0.25  # seconds one listing of the lab's containers serves `status`


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) if it answers, else Debian 12's `docker-compose` (v1)."""
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise LabError("neither `docker compose` nor `docker-compose` is installed",
                   "run `make compose-setup`, or install Docker's compose plugin")


def check_topology(topology: Topology) -> None:
    """Every node of the topology must be a node service of the compose file."""
    services = yaml.safe_load(COMPOSE_FILE.read_text()).get("services", {})
    missing = [n.name for n in topology.nodes if n.name not in services]
    if missing:
        raise LabError(f"{COMPOSE_FILE.name} has no service for {', '.join(missing)}",
                       "the compose lab's nodes are the file's node services (node1..node4); "
                       "use at most 4 nodes named so, or add a service per extra node")


def cassandra_cache() -> str:
    """The host's cache of Cassandra's jars (shared with the containers, so they are fetched
    from Maven Central once per machine, not once per container)."""
    try:
        from labkit.cassandra import jars
    except ImportError:  # no Cassandra tier in this version: the file's own volume
        return "labkit-cassandra"
    cache = jars.lib_dir().parent
    cache.mkdir(parents=True, exist_ok=True)
    return str(cache)


class ComposeBackend(Backend):
    name = "compose"
    no_link_faults = None  #: each container's own nftables input rules cut or thin its links
    link_rules = "real (nftables input rules in each receiving container)"
    links_dropped = "by the receiving container"
    has_flapper = True  #: each container's `links` program switches its own (compose/delayer.py)
    links_delayed = ("held back in the receiving container by its delayer (NFQUEUE; ARP is not "
                     "delayed)")
    network = "compose bridge"

    def __init__(self, layout: Any) -> None:
        super().__init__(layout)
        self._engine: Any = None
        self._snapshot: tuple[float, dict[str, Any]] = (0.0, {})

    # -- docker -------------------------------------------------------------------------------
    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = images.client()
        return self._engine

    @property
    def project(self) -> str:
        """The compose project (container and network name prefix) of this lab: the one its
        containers carry (`docker compose up` by hand names it after the folder), or, for a
        lab labkit starts, its name plus a digest of its run directory, so two homes' labs of
        one name never share containers."""
        for c in self.containers().values():
            return c.labels["com.docker.compose.project"]
        name = "".join(c if c.isalnum() else "-" for c in self.layout.lab.lower())
        digest = hashlib.sha1(str(self.layout.rundir).encode()).hexdigest()[:6]
        return f"labkit-{name}-{digest}"

    @property
    def network_name(self) -> str:
        return f"{self.project}_labnet"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        env = {**os.environ, "LABKIT_SUBNET": self.layout.prefix, "LABKIT_LAB": self.layout.lab,
               "LABKIT_HOME": str(home()), "LABKIT_RUNDIR": str(self.layout.rundir),
               "LABKIT_CASSANDRA_CACHE": cassandra_cache(), "COMPOSE_PROJECT_NAME": self.project}
        cmd = [*compose_command(), "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        if res.returncode != 0:
            tail = "\n    ".join((res.stdout + res.stderr).strip().splitlines()[-15:])
            raise LabError(f"`{' '.join(cmd[-len(args) - 4:])}` failed:\n    {tail}",
                           "see `docker compose ps` and the logs in the lab's run directory")
        return res

    def containers(self) -> dict[str, Any]:
        """service name → container of this lab (a short-lived snapshot, refreshed on change)."""
        at, snap = self._snapshot
        if time.monotonic() - at < SNAPSHOT_TTL:
            return snap
        found = self.engine.containers.list(
            all=True, filters={"label": f"labkit.rundir={self.layout.rundir}"})
        snap = {c.labels.get("com.docker.compose.service"): c for c in found}
        self._snapshot = (time.monotonic(), snap)
        return snap

    def _changed(self) -> None:
        self._snapshot = (0.0, {})

    def container(self, node: str) -> Any:
        c = self.containers().get(node)
        if c is None:
            raise LabError(f"{node} has no container", "start the lab with `labkit up`")
        return c

    def connected(self, container: Any) -> bool:
        nets = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        return self.network_name in nets

    # -- supervisors --------------------------------------------------------------------------
    def supervisor(self, node: str) -> Supervisor:
        return Supervisor.of(self.layout.paths, node)

    # -- lifecycle ----------------------------------------------------------------------------
    def is_running(self) -> bool:
        try:
            return any(c.status in ("running", "paused", "restarting")
                       for c in self.containers().values())
        except LabError:
            return False

    def up(self, progress: Progress) -> None:
        check_topology(self.layout.topology)
        progress(f"Docker engine answers ({self.engine.version().get('Version', '?')}); "
                 "checking the images")
        images.ensure_images(progress)
        network.keep_on_this_machine(self.layout.prefix)
        self._changed()
        if not self.is_running():  # a fresh lab: no rule of an earlier run comes back
            self.layout.paths.links.unlink(missing_ok=True)
        wanted = [n.name for n in self.layout.nodes if self.node_state(n.name) in ("up", "down")]
        progress(f"docker compose up: {', '.join(wanted)} and the device fleet on "
                 f"{self.layout.prefix}.0/24 (network {self.network_name})")
        self.compose("up", "-d", "--no-build", *wanted, FLEET)
        self._changed()
        self.wait_components(progress, wanted)

    def down(self, progress: Progress) -> None:
        for c in self.containers().values():
            if c.status == "paused":  # a frozen node must thaw before it can stop
                c.unpause()
        project = self.project
        progress(f"docker compose down ({project})")
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10")
        self._changed()
        # Whatever compose did not take away (a container it no longer knows of) goes too.
        for label in ("labkit.rundir", HELPER_LABEL):
            for c in self.engine.containers.list(
                    all=True, filters={"label": f"{label}={self.layout.rundir}"}):
                c.remove(force=True)
        for net in self.engine.networks.list(
                filters={"label": f"com.docker.compose.project={project}"}):
            net.remove()
        self._changed()

    # -- state --------------------------------------------------------------------------------
    def node_state(self, node: str) -> str:
        self.layout.topology.node(node)
        containers = self.containers()
        c = containers.get(node)
        if c is None or c.status not in ("running", "paused", "restarting"):
            others = any(o.status in ("running", "paused") for s, o in containers.items()
                         if s != node and s in {n.name for n in self.layout.nodes})
            return "crashed" if c is not None and others else "down"
        if c.status == "paused":
            return "frozen"
        return "up" if self.connected(c) else "isolated"

    def vip(self) -> dict[str, Any]:
        return self.vip_on_the_network()

    def resources(self, kind: str = "rss") -> dict[str, dict[str, int]]:
        """node → {"container": memory in use}, from the container's cgroup, which counts each
        page once: the same figure for either `kind`."""
        out: dict[str, dict[str, int]] = {}
        for name, c in self.containers().items():
            if c.status != "running" or name == "init":
                continue
            stats = c.stats(stream=False, one_shot=True)
            usage = (stats.get("memory_stats") or {}).get("usage")
            if usage:
                out[LAB_SUPERVISOR if name == FLEET else name] = {"container": int(usage)}
        return out

    # -- faults -------------------------------------------------------------------------------
    def _break(self, node: str, mode: str) -> str:
        c = self.container(node)
        if mode == "crash":
            c.kill()
            msg = f"{node} crashed: its container was killed (SIGKILL to every process in it)"
        elif mode == "freeze":
            self._pause(c)
            msg = f"{node} frozen: its container is paused (cgroup freezer, like a hung VM)"
        else:
            self.engine.networks.get(self.network_name).disconnect(c, force=True)
            msg = f"{node} isolated: its container was disconnected from {self.network_name}"
        self._changed()
        return msg

    @staticmethod
    def _pause(container: Any, tries: int = 10) -> None:
        """`docker pause`, again if the cgroup freezer gives up: it cannot freeze while a
        process is in the middle of an uninterruptible call (runc: "unable to freeze")."""
        import docker.errors

        for attempt in range(tries):
            try:
                container.pause()
                return
            except docker.errors.APIError as exc:
                if "unable to freeze" not in str(exc) or attempt == tries - 1:
                    raise LabError(f"Docker could not pause {container.name}: "
                                   f"{exc.explanation or exc}",
                                   "try again, or use --mode crash") from None
                time.sleep(0.2)

    def _kill_process_group(self, node: str, pid: int) -> str:
        # the pid is the container's own; its process group is the program and its children
        self.container(node).exec_run(["kill", "-KILL", "--", f"-{pid}"])
        return " in its container"

    # -- faults on links -----------------------------------------------------------------------
    def _apply_links(self, faults: list[LinkFault]) -> None:
        """Replace every node container's `links` table with its rules for `faults` (each in one
        nftables transaction). Should one container refuse, those already changed get back the
        set in force before, so a refused set changes nothing. A stopped container is skipped:
        it has no network now, and its entry point puts its rules back from links.json when it
        starts (labkit.backends.compose.node)."""
        before = self.links()
        done: list[tuple[str, Any]] = []
        for n in self.layout.nodes:
            c = self.containers().get(n.name)
            if c is None:
                continue
            c.reload()
            if c.status not in ("running", "paused"):
                continue
            try:
                self._rules(n.name, c, link_rules.command(self.layout, n.name, faults))
            except LabError:
                for name, changed in done:
                    with contextlib.suppress(LabError):
                        self._rules(name, changed, link_rules.command(self.layout, name, before))
                raise
            done.append((n.name, c))

    def _rules(self, node: str, container: Any, cmd: list[str]) -> None:
        """Run a link rules command (link_rules.command) in the container's network namespace:
        `docker exec`, or, in a paused container (which takes no exec, while its kernel still
        answers), a helper container of the same image that joins its network namespace for
        the one command."""
        import docker.errors

        if container.status == "paused":
            try:
                self.engine.containers.run(
                    images.NODE_IMAGE, cmd[1:], entrypoint=cmd[:1], remove=True,
                    network_mode=f"container:{container.id}", cap_add=["NET_ADMIN"],
                    labels={HELPER_LABEL: str(self.layout.rundir)})
                return
            except docker.errors.ContainerError as exc:
                said = (exc.stderr or b"").decode(errors="replace").strip()
            except docker.errors.APIError as exc:
                said = str(exc.explanation or exc)
        else:
            res = container.exec_run(cmd)
            if res.exit_code == 0:
                return
            said = (res.output or b"").decode(errors="replace").strip()
        raise LabError(f"{node}'s container refused the link rules: {said}",
                       "nothing changed; see `docker logs` of the container")

    def _mend(self, node: str, state: str) -> None:
        c = self.container(node)
        if state == "crashed":
            c.start()  # its entry point puts back its link rules before any server starts
        elif state == "frozen":
            c.unpause()
        else:
            self.engine.networks.get(self.network_name).connect(
                c, ipv4_address=self.layout.address(node))
            self._rebind(node)
        self._changed()

    def _rebind(self, node: str) -> None:
        """A reconnected container gets a new interface (eth1, ...): programs tied to the old
        one restart: keepalived (its VRRP interface) and the app server (its heartbeats'
        multicast membership). Sockets bound to the node's address carry on by themselves."""
        rpc = self.supervisor(node).rpc(timeout=20)
        for program in [p for p in INTERFACE_BOUND if p in self.service_names(node)]:
            if program == "keepalived":
                self.layout.paths.vrrp(node).unlink(missing_ok=True)
            with contextlib.suppress(Exception):  # not running (e.g. in backoff): start anyway
                rpc.stopProcess(program)
            rpc.startProcess(program)
