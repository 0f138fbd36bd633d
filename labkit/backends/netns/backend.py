"""The netns backend: the local backend's process trees, each node inside its own namespace.

Everything about processes is the local backend's (one supervisord per node, started through
`ip netns exec`, so it and all it runs live in the node's namespace): crash is SIGKILL to the
node's process tree, freeze is SIGSTOP. What differs is the network (labkit.backends.netns.network):
each node has its own stack on a real bridge, so the VIP is what it is on compose, an address
keepalived adds on the VRRP master, and isolation cuts the node's cable at the switch.
"""

from __future__ import annotations

from typing import Any

from labkit.backends.base import Progress
from labkit.backends.local import processes
from labkit.backends.local.backend import LocalBackend
from labkit.backends.netns import network
from labkit.component import Program
from labkit.links import LinkFault
from labkit.supervisor import LAB_SUPERVISOR


class NetnsBackend(LocalBackend):
    name = "netns"

    @property
    def network(self) -> str:  # type: ignore[override]
        return network.mode(self.layout)

    no_link_faults = None  #: the switch's nftables rules cut or thin any link, any direction

    def _apply_links(self, faults: list[LinkFault]) -> None:
        network.apply_links(self.layout, faults)

    has_flapper = True
    links_delayed = ("held back at the switch by the lab's delayer (NFQUEUE; ARP is not "
                     "delayed)")

    def network_programs(self) -> list[Program]:
        """No segment program (the lab's bridge carries the VIP); the links keeper, inside the
        switch's namespace, which holds back late links' frames and switches flapping links up
        and down on time."""
        import sys

        return [Program("links", [*network.netns_exec(network.switch(self.layout)),
                                  sys.executable, "-m",
                                  "labkit.backends.netns.delayer", "--lab", self.layout.lab],
                        priority=10, stopwaitsecs=3)]

    def start_through(self, node: str) -> list[str]:
        """`ip netns exec NAME`: supervisord and all it runs live in the node's namespace."""
        return network.netns_exec(network.namespace(self.layout, node))

    def outside(self) -> list[str]:
        """Rootless: into the holder's namespaces (labkit.backends.netns.enter) first."""
        return network.enter(self.layout)

    def daemons(self) -> list[int]:
        """A rootless lab's holder (its namespaces live as long as it does)."""
        pid = network.holder_pid(self.layout) if network.rootless(self.layout) else None
        return [pid] if pid else []

    def resources(self, kind: str = "rss") -> dict[str, dict[str, int]]:
        """The local backend's, and a rootless lab's holder (with its forwarder) under `lab`."""
        out = super().resources(kind)
        for pid in self.daemons():
            out.setdefault(LAB_SUPERVISOR, {})["holder"] = processes.memory(pid, kind)
        return out

    def fresh_network(self, progress: Progress) -> None:
        network.check()
        lay = self.layout
        if network.rootless(lay):
            progress(f"network namespaces {', '.join(network.namespaces(lay))} on "
                     f"{lay.prefix}.0/24, in a user namespace of the lab's own (rootless: no "
                     "root needed); this host reaches each node's TCP services and the VIP "
                     "through the lab's forwarder, on the same addresses")
        else:
            progress(f"network namespaces {', '.join(network.namespaces(lay))} on "
                     f"{lay.prefix}.0/24 (this host: {lay.prefix}.{network.HOST_ADDRESS} on "
                     f"{network.host_link(lay)}, device fleet {lay.fleet_address})")
        network.create(lay)

    def remove_network(self, progress: Progress) -> None:
        progress("removing the lab's namespaces, bridge and cables")
        killed = network.destroy(self.layout)
        if killed:
            progress(f"killed {len(killed)} stray processes in the lab's namespaces")

    def vip(self) -> dict[str, Any]:
        return self.vip_on_the_network()

    def _break(self, node: str, mode: str) -> str:
        if mode == "crash":
            said = super()._break(node, mode)
            network.drop_vip(self.layout, node)
            return (f"{said}, all in its network namespace {network.namespace(self.layout, node)}"
                    "; the VIP taken off its interface (its kernel stays up here, unlike a dead "
                    "machine's: it still resets connections to its own address)")
        if mode != "isolate":  # the same signal as on loopback, to processes in the namespace
            return (f"{super()._break(node, mode)}, all in its network namespace "
                    f"{network.namespace(self.layout, node)}")
        cable = network.isolate(self.layout, node)
        self._set_fault(node, "isolated")
        return (f"{node} isolated: every frame into or out of its switch port {cable} "
                f"(namespace {network.switch(self.layout)}) is dropped, both ways, every "
                "protocol (ARP, IP, VRRP, multicast); the node keeps running")

    def _mend(self, node: str, state: str) -> None:
        if state != "isolated":
            super()._mend(node, state)
            return
        network.heal(self.layout, node)
        self._set_fault(node, None)
