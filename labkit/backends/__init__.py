"""Backends start a topology somewhere: `local` (plain processes on loopback), `compose`
(containers) or `netns` (processes in network namespaces on a bridge: as root, or rootless in
a user namespace of the lab's own)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labkit.backends.base import Backend
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.topology import Topology

BACKENDS = ("local", "compose", "netns")
CHOICES = (*BACKENDS, "auto")


def resolve_backend(name: str, existing: Layout | None,
                    progress: Callable[[str], None]) -> str:
    """The backend a name means. `auto` (the default) keeps an existing lab's backend; a new lab
    gets netns where this machine can run it (a real network per node: isolation and link faults
    cut real packets), else local, saying why. Compose is only ever asked for by name: its images
    take minutes to build the first time."""
    if name not in CHOICES:
        raise LabError(f"unknown backend {name!r}", f"choose one of: {', '.join(CHOICES)}")
    if name != "auto":
        return name
    if existing is not None:
        progress(f"backend auto: {existing.backend} (the lab {existing.lab!r} was set up on it)")
        return existing.backend
    from labkit.backends.netns import network as netns_network

    why_not = netns_network.unavailable()
    if why_not is None:
        progress("backend auto: netns (a network namespace per node: faults cut real packets)")
        return "netns"
    progress(f"backend auto: local, on loopback ({why_not}): there an isolated node still "
             "reaches its peers over 127.0.0.1, and links cannot be cut")
    return "local"


def check_topology(backend: str, topology: Topology | None) -> None:
    """Refuse, before anything is written, a topology this backend cannot start (or, for netns,
    a machine it cannot run on: root, or user namespaces for a rootless lab)."""
    if backend == "netns":
        from labkit.backends.netns import network as netns_network

        netns_network.check()
    if backend == "compose" and topology is not None:
        from labkit.backends.compose.backend import check_topology as check

        check(topology)
    kind = _backend_class(backend)
    if topology is None or not topology.links:
        return
    if kind.no_link_faults:
        raise LabError(f"the topology declares {len(topology.links)} faulty link(s) under "
                       f"`links:`, which the {backend} backend cannot apply: "
                       f"{kind.no_link_faults}",
                       "start it with `--backend netns` or `--backend compose`, "
                       "or leave `links:` out")
    if any(ln.delay for ln in topology.links) and kind.links_delayed is None:
        raise LabError(f"the topology declares late links (`delay:` under `links:`), which the "
                       f"{backend} backend cannot make: {kind.no_delay}",
                       "start it on netns (`labkit up --backend netns`), or leave the delays out")


def _backend_class(name: str) -> type[Backend]:
    if name == "compose":
        from labkit.backends.compose import ComposeBackend

        return ComposeBackend
    if name == "netns":
        from labkit.backends.netns.backend import NetnsBackend

        return NetnsBackend
    from labkit.backends.local.backend import LocalBackend

    return LocalBackend


def claim_prefix(backend: str, rundir: Path) -> str:
    """A /24 of the lab's own: 127.x.y on loopback (local), 172.31.y on a Docker bridge (compose)
    or 10.213.y on the lab's own bridge (netns)."""
    if backend == "netns":
        from labkit.backends.netns import network as netns_network

        return netns_network.claim(rundir)
    if backend == "compose":
        from labkit.backends.compose import images, network

        return network.claim(rundir, images.client())
    from labkit.backends.local import network as local_network

    return local_network.claim(rundir)


def backend_for(layout: Layout) -> Backend:
    if layout.backend == "local":
        from labkit.backends.local.backend import LocalBackend

        return LocalBackend(layout)
    if layout.backend == "compose":
        from labkit.backends.compose import ComposeBackend

        return ComposeBackend(layout)
    if layout.backend == "netns":
        from labkit.backends.netns.backend import NetnsBackend

        return NetnsBackend(layout)
    raise LabError(f"unknown backend {layout.backend!r}", f"choose one of: {', '.join(BACKENDS)}")
