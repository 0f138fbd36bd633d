"""`Cluster`: the one Python handle on a lab, used by the CLI, the tests and the notebooks.

    from labkit import Cluster
    lab = Cluster.up()              # or Cluster.attach() for the lab that is already running
    lab.status()["vip"]["owner"]    # 'node1'
    lab.fail("node1", "crash")      # watch the VIP move
    lab.recover("node1")
"""

from __future__ import annotations

import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from labkit import cgroups, events, links, starting, tiers, wait
from labkit.backends import backend_for, check_topology, claim_prefix, resolve_backend
from labkit.component import all_components
from labkit.errors import LabError
from labkit.layout import NBI_USERS, Layout, RunDir, default_lab_name, home, rundir_of
from labkit.layout import up_log as layout_up_log
from labkit.supervisor import Supervisor
from labkit.tls import ensure_certificate
from labkit.topology import Topology

if TYPE_CHECKING:
    from labkit.cassandra.nbi import FilesClient
    from labkit.db.handles import MySQLTier, PostgresTier
    from labkit.devices.handle import DevicesTier


#: `labkit config NODE/supervisord`: the node's supervisor, which runs every service of the node
SUPERVISORD = "supervisord"


def _quiet(_msg: str) -> None:
    pass


def _show_in_place(msg: str) -> None:
    """Progress on one line that rewrites itself (a terminal and a notebook both honour \\r);
    an empty message ends the line."""
    if msg:
        print("\r" + msg.ljust(100), end="", flush=True)
    else:
        print(flush=True)


def _sum(per_node: dict[str, dict[str, int]]) -> int:
    return sum(sum(services.values()) for services in per_node.values())


class Cluster:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.backend = backend_for(layout)

    # -- life cycle ---------------------------------------------------------------------------
    @classmethod
    def up(cls, nodes: int | None = None, topology: Topology | None = None,
           backend: str = "auto", lab: str | None = None,
           progress: Callable[[str], None] = _quiet, timeout: float = 240) -> Cluster:
        """Start the lab (or make sure it runs) and return once the VIP answers."""
        lab = lab or default_lab_name()
        existing = Layout.load(lab) if rundir_of(lab).layout.exists() else None
        backend = resolve_backend(backend, existing, progress)
        check_topology(backend, topology or (Topology.default(nodes) if nodes else None))
        layout = cls._layout_for(lab, nodes, topology, backend)
        cluster = cls(layout)
        with starting.marked(layout.paths):  # Cluster.attach() waits while this is held
            if cluster.backend.is_running():  # `up` on a running lab makes it whole again
                cluster._mend_nodes(progress)
                cluster._restore_links(progress)
                cluster.backend.up(progress)
            else:
                cluster.backend.up(progress)
                cluster._declared_links(progress)
            progress("waiting for the VIP to answer")
            cluster.wait_vip(timeout=timeout)
        events.emit(layout.events_path, "lab", message=f"lab {lab} is up at {layout.vip_url}")
        return cluster

    @staticmethod
    def _layout_for(lab: str, nodes: int | None, topology: Topology | None,
                    backend: str) -> Layout:
        if topology is not None and nodes is not None and nodes != len(topology.nodes):
            raise LabError("give either --nodes or --topology, not both")
        wanted = topology or (Topology.default(nodes) if nodes else None)
        paths = rundir_of(lab)
        rundir = paths.root
        existing: Layout | None = None
        if paths.layout.exists():
            existing = Layout.load(lab)
            running = backend_for(existing).is_running()
            if running and wanted is not None and wanted != existing.topology:
                raise LabError(f"lab {lab!r} is running with another topology",
                               "run `labkit down` first, or leave out --nodes/--topology")
            if running and backend != existing.backend:
                raise LabError(f"lab {lab!r} is running on the {existing.backend} backend",
                               "run `labkit down` first to switch backends")
            if backend != existing.backend:  # its addresses and data belong to the other one
                raise LabError(f"lab {lab!r} was set up on the {existing.backend} backend "
                               f"({existing.prefix}.0/24)",
                               f"run `labkit down --purge --lab {lab}` first, or use another --lab")
        from labkit.backends.local import network

        rundir.mkdir(parents=True, exist_ok=True)
        if existing is not None and (wanted is None or wanted == existing.topology):
            network.reclaim(existing.prefix, rundir)
            layout = existing
            layout.backend = backend
        else:
            prefix = existing.prefix if existing else claim_prefix(backend, rundir)
            if existing:
                network.reclaim(prefix, rundir)
            layout = Layout(lab=lab, topology=wanted or Topology.default(), prefix=prefix,
                            backend=backend,
                            secrets=existing.secrets if existing else Layout.new_secrets())
        layout.save()
        ensure_certificate(layout.paths.tls,
                           [layout.vip, *(layout.address(n.name) for n in layout.nodes)],
                           f"labkit {lab}")
        return layout

    @classmethod
    def attach(cls, lab: str | None = None, wait: float = 600,
               progress: Callable[[str], None] | None = None) -> Cluster:
        """Take hold of the lab that is already running (the notebooks start here). While a
        `labkit up` is still starting it (Binder's first minute, or `make lab` in a terminal),
        wait for it, showing what is ready; fail only when that start ends without a lab, with
        the end of its log."""
        paths = rundir_of(lab or default_lab_name())
        waited = starting.in_progress(paths)
        if waited:
            cls._wait_for_start(paths, wait, progress or _show_in_place)
        up_log = layout_up_log()  # written by binder/start, which starts the lab on Binder
        seen = f"; its last start-up log is {up_log}" if up_log.exists() else ""
        tail = starting.log_tail() if waited else ""
        ended = f"the start that was under way ended without it{seen}" + \
            (f":\n{tail}" if tail else "")
        try:
            cluster = cls(Layout.load(lab))
        except LabError as exc:
            raise LabError(exc.message, ended if waited else
                           f"start one with `labkit up`{seen}") from None
        if not cluster.backend.is_running():
            raise LabError(f"lab {cluster.layout.lab!r} is not running",
                           ended if waited else f"start it with `labkit up` (or `make lab`){seen}")
        return cluster

    @classmethod
    def _wait_for_start(cls, paths: RunDir, wait: float,
                        progress: Callable[[str], None]) -> None:
        t0 = time.monotonic()
        while starting.in_progress(paths):
            took = time.monotonic() - t0
            if took > wait:
                raise LabError(f"the lab is still starting after {wait:.0f}s",
                               f"see how far it got with `labkit status`; its start-up log, if "
                               f"Binder started it: {layout_up_log()}")
            progress(f"{cls._readiness(paths)} · {took:.0f}s")
            time.sleep(1)
        progress("")

    @classmethod
    def _readiness(cls, paths: RunDir) -> str:
        """One line of what a starting lab has ready: nodes, services, the VIP."""
        if not paths.layout.exists():
            return "the lab is starting: preparing its addresses and certificates"
        try:
            cluster = cls(Layout.load(paths.root.name))
            if not cluster.backend.is_running():
                return "the lab is starting: its supervisor is starting"
            nodes = [n.name for n in cluster.layout.nodes]
            services = [s for n in nodes for s in cluster.backend.services(n).values()]
            up = sum(cluster.backend.node_state(n) == "up" for n in nodes)
            running = sum(s == "running" for s in services)
            owner = cluster.backend.vip().get("owner")
        except Exception:  # noqa: BLE001 - half-written state while starting: try again
            return "the lab is starting"
        vip = f"VIP on {owner}" if owner else "VIP not claimed yet"
        return (f"the lab is starting {starting.bar(running, len(services))} "
                f"{running}/{len(services)} services running, {up}/{len(nodes)} nodes, {vip}")

    def down(self, progress: Callable[[str], None] = _quiet, purge: bool = False) -> None:
        """Stop every process of the lab; with purge, delete its data and run directory too."""
        from labkit.backends.local import network

        doomed = self.purgeable() if purge else None  # refused before anything stops
        ring_client = sys.modules.get("labkit.cassandra.client")
        if ring_client is not None:  # this process talked to the ring: end its reconnect loops
            ring_client.forget(self.layout)
        self.backend.down(progress)
        self.layout.paths.links.unlink(missing_ok=True)  # their rules went with the network
        network.release(self.layout.prefix, self.layout.rundir)
        events.emit(self.layout.events_path, "lab", message=f"lab {self.layout.lab} is down")
        if purge:
            import shutil

            shutil.rmtree(doomed, ignore_errors=True)

    def purgeable(self) -> Path:
        """The run directory `down --purge` deletes: always one folder inside LABKIT_HOME."""
        rundir, root = self.layout.rundir.resolve(), home().resolve()
        if rundir.parent != root:
            raise LabError(f"refusing to delete {rundir}: it is not a lab folder in {root}",
                           "delete it by hand if it really is a lab's")
        return rundir

    def wait_vip(self, timeout: float = 60) -> str:
        """Wait until a request through the VIP is answered; returns the answering node."""
        last = "no answer yet"

        def answering_node() -> str | None:
            nonlocal last
            try:
                r = httpx.get(f"{self.layout.vip_url}/api/node", timeout=2,
                              auth=self.layout.nbi_auth())
                if r.status_code == 200:
                    return r.json()["node"]
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            return None

        node = wait.until(answering_node, timeout, every=0.2)
        if node:
            return node
        raise LabError(f"the VIP {self.layout.vip_url} did not answer within {timeout:.0f}s "
                       f"({last})", f"see `labkit status` and the logs under {self.layout.rundir}")

    # -- faults -------------------------------------------------------------------------------
    def fail(self, target: str, mode: str = "crash") -> str:
        """Break a node (`node2`, mode crash|freeze|isolate) or one service (`node2/app`);
        returns what happened, as the fault's event says it."""
        node, _, service = target.partition("/")
        self.layout.topology.node(node)
        if service:
            return self.backend.fail_service(node, service)
        return self.backend.fail(node, mode)

    # -- configuration ------------------------------------------------------------------------
    def config_files(self, target: str) -> dict[str, Path]:
        """The files the servers of `NODE/SERVICE` run with, by short name (`labkit config`).
        SERVICE is one `labkit fail` accepts, or `supervisord` for the node's supervisor."""
        node, _, service = target.partition("/")
        names = [n.name for n in self.layout.nodes]
        if node not in names:
            raise LabError(f"lab {self.layout.lab} has no node {node!r}; its nodes are: "
                           f"{', '.join(names)}")
        services = self._config_files_by_service(node)
        if service not in services:
            raise LabError(f"{node} runs no service {service!r}; give NODE/SERVICE with one of: "
                           f"{', '.join(services)}")
        return services[service]

    def _config_files_by_service(self, node: str) -> dict[str, dict[str, Path]]:
        """service → its component's files, for every service `labkit fail` knows on `node`."""
        roles = self.layout.topology.node(node).roles
        files = {program: comp.config_files(self.layout, node)
                 for comp in all_components(self.layout.backend) if comp.role in roles
                 for program in comp.programs}
        files[SUPERVISORD] = {"supervisord.conf": Supervisor.of(self.layout.paths, node).conf}
        return files

    def recover(self, node: str) -> None:
        self.backend.recover(node)

    def recover_all(self) -> list[str]:
        """Recover every broken node (tests and lessons tidy up with this)."""
        return self._mend_nodes(_quiet)

    def _mend_nodes(self, progress: Callable[[str], None]) -> list[str]:
        broken = {n.name: self.backend.node_state(n.name) for n in self.layout.nodes}
        broken = {n: state for n, state in broken.items() if state not in ("up", "down")}
        for node, state in broken.items():
            progress(f"recovering {node} (it was {state})")
            self.backend.recover(node)
        return list(broken)

    def reset(self, progress: Callable[[str], None] = _quiet,
              timeout: float = 180) -> dict[str, list[Any]]:
        """Make the lab whole between exercises (`labkit reset`): every crashed, frozen or
        isolated node recovered, the learner's link faults healed (the topology's own put
        back), then wait until every service runs, the VIP answers and every app server is in
        the round robin again. Data is kept: this mends, it does not start from scratch."""
        if not self.backend.is_running():
            raise LabError(f"lab {self.layout.lab!r} is not running: there is nothing to reset",
                           "start it with `labkit up`")
        mended = self._mend_nodes(progress)
        healed = self._restore_links(progress)
        progress("waiting for every service, the VIP and the round robin")
        self.wait_whole(timeout)
        events.emit(self.layout.events_path, "lab",
                    message=f"lab {self.layout.lab} reset: "
                            f"{', '.join(mended) or 'no node'} recovered, "
                            f"{len(healed)} link fault(s) healed")
        return {"recovered": mended, "healed": healed}

    def wait_whole(self, timeout: float = 180) -> None:
        """Wait until every node is up with every service running, the VIP answers from its one
        VRRP master, and the round robin through the VIP reaches every app server (a health
        check puts a returning server back a beat after it answers; the last two are not waited
        for when the topology declares link faults, which may keep them from happening)."""
        def whole() -> bool:  # nodes and services only: status() would ask every tier too
            return all(self.backend.node_state(n.name) == "up" and
                       all(v == "running" for v in self.backend.services(n.name).values())
                       for n in self.layout.nodes)
        if not wait.until(whole, timeout, every=0.3):
            raise LabError(f"the lab is not whole after {timeout:.0f}s",
                           "see `labkit status` for the node or service still missing")
        self.wait_vip(timeout)
        if self.layout.topology.links:
            return
        if not wait.until(self._one_master, timeout, every=0.3):
            raise LabError(f"the VIP has no single VRRP master after {timeout:.0f}s "
                           f"({self.backend.vip()})", "see `labkit status` (split brain?)")
        apps = {n.name for n in self.layout.topology.with_role("app")}
        if not wait.until(lambda: self.rotation(3 * len(apps)) == apps, timeout, every=0.3):
            raise LabError(f"the round robin does not reach every app server after "
                           f"{timeout:.0f}s (it reaches {sorted(self.rotation(3 * len(apps)))})",
                           "see `labkit status` and the balancer-manager page")

    def _one_master(self) -> bool:
        """Exactly one LB node believes it is VRRP master, and it is the one the VIP reaches (two
        masters can both hold the VIP for a moment after a start or a heal: a fault then aimed at
        the owner may not touch the traffic at all)."""
        vip = self.backend.vip()
        return vip["owner"] is not None and vip.get("believers") == [vip["owner"]]

    def answering(self, requests: int = 12) -> Counter[str]:
        """Send `requests` fresh (cookie-less) requests through the VIP and count the app servers
        that answer; each request that fails or is refused counts under "error"."""
        return self._ask("/api/node", requests, answered=200)

    def rotation(self, requests: int) -> set[str]:
        """The app servers that answer `requests` requests through the VIP on each of Apache's
        balancers (`balancer://app` and `balancer://app-slow`, the routes that wait on a
        database), plus "error" when any request failed: a frozen member can be out of one and
        still in the other for a while, and the set says so until both agree."""
        # /api/session goes through app-slow; without a cookie an app server answers 401
        return set(self.answering(requests)) | set(self._ask("/api/session", requests,
                                                             answered=401))

    def _ask(self, path: str, requests: int, answered: int) -> Counter[str]:
        """GET `path` through the VIP `requests` times; count each answer with the status
        `answered` under the app server that gave it (its X-Labkit-Node header), anything else
        (a failed request, Apache's 502, another status) under "error"."""
        seen: Counter[str] = Counter()
        with httpx.Client(base_url=self.layout.vip_url, timeout=2,
                          auth=self.layout.nbi_auth()) as c:
            for _ in range(requests):
                try:
                    r = c.get(path)
                except httpx.HTTPError:
                    seen["error"] += 1
                    continue
                node = r.headers.get("x-labkit-node")
                seen[node if node and r.status_code == answered else "error"] += 1
        return seen

    # -- faults on links ----------------------------------------------------------------------
    def cut(self, a: str, b: str, one_way: bool = False) -> None:
        """Cut the link between two nodes (both ways, or only frames from `a` to `b`)."""
        links.check_pair(self._names(), a, b)
        where = self.backend.links_dropped
        if one_way:
            self.backend.fault_links(
                [links.LinkFault(a, b, cut=True)],
                f"link {a} → {b} cut one way: frames from {a} to {b} are dropped {where}, "
                f"frames from {b} to {a} still pass (so no TCP connection completes either way, "
                f"while {b}'s UDP and VRRP adverts still reach {a})")
        else:
            self.backend.fault_links(
                links.both_ways(a, b, cut=True),
                f"link {a} ↔ {b} cut: every frame between them is dropped {where}, both "
                "ways; each keeps its other links")

    def partition(self, sides: str) -> list[list[str]]:
        """Split the lab, e.g. `"node1,node2 / node3,node4"`: every link across is cut."""
        groups = links.parse_partition(self._names(), sides)
        said = " / ".join(",".join(g) for g in groups)
        self.backend.fault_links(
            links.across(groups),
            f"partition {said}: every frame between the sides is dropped "
            f"{self.backend.links_dropped}, both ways; each side still talks within itself")
        return groups

    def impair(self, a: str, b: str, loss: str | None = None, rate: str | None = None,
               one_way: bool = False, flap: str | None = None, delay: str | None = None,
               jitter: str | None = None) -> None:
        """Make a link lossy (`loss="5%"`), slow (`rate="1mbit"`), late (`delay="50ms"`, give or
        take `jitter="10ms"`) or flapping (`flap="10s"`: cut half of each period, up the other
        half), both ways or `a` → `b`."""
        links.check_pair(self._names(), a, b)
        fault = self._impairment(loss, rate, flap, delay, jitter)
        faults = [links.LinkFault(a, b, **fault)] if one_way else links.both_ways(a, b, **fault)
        arrow = "→" if one_way else "↔"
        what = faults[0].describe().split(": ", 1)[1]
        how = (f"dropped {self.backend.links_dropped}" if not delay else
               f"{self.backend.links_delayed}" + (", and dropped there" if loss or rate else ""))
        self.backend.fault_links(faults, f"link {a} {arrow} {b}: {what} ({how}"
                                         f"{'' if one_way else ', each way'}"
                                         f"{'; the flapper switches it on time' if flap else ''})")

    @staticmethod
    def _impairment(loss: str | None, rate: str | None, flap: str | None, delay: str | None,
                    jitter: str | None) -> dict[str, Any]:
        """What `impair` was asked, checked: one clear error, before anything is touched."""
        late, spread = links.parse_late(delay, jitter)
        if loss is None and rate is None and flap is None and delay is None:
            raise LabError("say what to do to the link",
                           "e.g. --loss 5%, --rate 1mbit, --delay 50ms or --flap 10s")
        if flap is not None and (loss is not None or rate is not None or delay is not None):
            raise LabError("a flapping link is cut or up, not lossy, slow or late as well",
                           "give --flap alone, or --loss / --rate / --delay without it")
        return {"loss": links.parse_loss(loss) if loss else 0.0,
                "rate": links.parse_rate(rate) if rate else 0,
                "flap": links.parse_period(flap) if flap else 0.0,
                "delay": late, "jitter": spread}

    def heal(self) -> list[dict[str, Any]]:
        """Remove every link fault (cuts, partitions, impairments); node faults stay."""
        return [f.to_dict() for f in self.backend.heal_links()]

    def _declared_links(self, progress: Callable[[str], None]) -> None:
        """Put in force the link faults the topology declares (`links:`), if any."""
        if not self.layout.topology.links:
            return
        declared = self.layout.topology.link_faults()
        progress(f"faulting {len(declared)} link direction(s) as the topology declares")
        self.backend.fault_links(declared, "links as the topology declares them: " +
                                 "; ".join(f.describe() for f in declared))

    def _restore_links(self, progress: Callable[[str], None]) -> list[dict[str, Any]]:
        """Links back to what the topology declares: the learner's cuts and impairments go."""
        now = self.backend.links()
        if set(now) == set(self.layout.topology.link_faults()):
            return []
        progress(f"healing {len(now)} link fault(s)")
        healed = self.heal()
        self._declared_links(progress)
        return healed

    def links(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.backend.links()]

    def _names(self) -> list[str]:
        return [n.name for n in self.layout.nodes]

    # -- looking ------------------------------------------------------------------------------
    def status(self, resources: bool = False) -> dict[str, Any]:
        lay = self.layout
        nodes = []
        for n in lay.nodes:
            nodes.append({"name": n.name, "address": lay.address(n.name),
                          "state": self.backend.node_state(n.name), "roles": list(n.roles),
                          "services": self.backend.services(n.name)})
        vip = self.backend.vip()
        out: dict[str, Any] = {
            "lab": lay.lab, "backend": lay.backend, "network": self.backend.network,
            "running": self.backend.is_running(),
            "vip": {"address": lay.vip, "port": lay.ports.http, "https_port": lay.ports.https,
                    "url": lay.vip_url, "https_url": lay.vip_https_url, **vip},
            "nodes": nodes,
            "links": [f.to_dict() for f in self.backend.links()],
            "link_faults": self.backend.no_link_faults or self.backend.link_rules,
            "nbi": {"users": dict(NBI_USERS),
                    "auth": "HTTP Basic or a session from POST /api/login; "
                            "`labkit credentials` prints the passwords"},
        }
        live = [n["name"] for n in nodes if n["state"] == "up"]
        for comp in all_components():
            section = comp.status(lay, live)
            if section is not None:
                out.update(section)
        limits = cgroups.usage_of(self._lab_pid())
        if limits is not None:  # a classroom's share: memory/CPU caps and the OOM kills in it
            out["limits"] = limits
        if resources:
            rss, pss = self.backend.resources("rss"), self.backend.resources("pss")
            out["resources"] = {"rss": rss, "total": _sum(rss), "pss": pss,
                                "pss_total": _sum(pss)}
        return out

    def _lab_pid(self) -> int | str:
        """A process of the lab (a node's supervisord) whose control group is the lab's; this
        process when none runs or the backend has no supervisors (compose)."""
        supervisor = getattr(self.backend, "supervisor", None)
        for n in self.layout.nodes if supervisor else ():
            pid = supervisor(n.name).pid()
            if pid:
                return pid
        return "self"

    def events(self, since: float = 0.0) -> list[dict[str, Any]]:
        return events.read(self.layout.events_path, since)

    def client(self, https: bool = False, user: str = "learner", **kwargs: Any) -> httpx.Client:
        """An HTTP client aimed at the VIP (cookies kept, so sessions stick), sending `user`'s
        credentials (HTTP Basic) on every request: `learner` works, `admin` may also delete."""
        base = self.layout.vip_https_url if https else self.layout.vip_url
        verify = (ssl.create_default_context(cafile=str(self.layout.paths.certificate))
                  if https else True)
        kwargs.setdefault("auth", self.layout.nbi_auth(user))
        return httpx.Client(base_url=base, verify=verify, timeout=kwargs.pop("timeout", 5),
                            **kwargs)

    def auth(self, user: str = "learner") -> tuple[str, str]:
        """`user`'s NBI credentials, for a plain `httpx.get(..., auth=lab.auth())`."""
        return self.layout.nbi_auth(user)

    @property
    def vip_url(self) -> str:
        return self.layout.vip_url

    # -- the tiers' handles (`lab.mysql`, `lab.postgres`, `lab.devices`, `lab.files`) ---------
    if TYPE_CHECKING:  # what the tier registry's handles give, for readers and type checkers
        mysql: MySQLTier  #: the MySQL pair: `.connect()` reaches the active, `.status()`, ...
        postgres: PostgresTier  #: the PostgreSQL pair: `.connect()` reaches the primary, ...
        devices: DevicesTier  #: the managed devices: `.discover()`, `.counts()`, `.resync()`
        files: FilesClient  #: device image files in the ring: `.put()`, `.get()`, `.ls()`

    def __getattr__(self, name: str) -> Any:
        """A tier's handle, as `labkit.tiers` lists them; imported on first use."""
        path = tiers.handle_path(name)
        if path is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return tiers.load(path)(self)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(h for t in tiers.TIERS for h in t.handles)})

    def __repr__(self) -> str:
        return f"<Cluster {self.layout.lab} {self.layout.backend} {self.layout.vip_url}>"
