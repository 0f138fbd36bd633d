"""Link faults on the compose backend: an nftables table in each receiving container.

Containers on a Docker bridge have no switch of labkit's own to drop frames on (the bridge sits in
the host's network namespace, among Docker's iptables rules), but each container has its own
network stack and NET_ADMIN. So each node container holds one table, `inet links`, with one
`input` chain: a direction src → dst of a link is dropped in dst's input, matched on src's address
on the lab network (`ip saddr`).

Why the receiver's input, and only there (not the sender's output as well):

* a drop in OUTPUT is told back to the sending program: its `sendto` fails at once with EPERM
  ("Operation not permitted"), which no cable does. Dropped at the receiver, the sender sees
  what a cut or lossy wire gives: silence, timeouts, retransmissions;
* one place per direction keeps loss exact: 50 % dropped at both ends would deliver 25 %;
* the rules of a direction live in exactly one container, so replacing that container's table
  in one nftables transaction puts all of them in force at once (the old and new set never mix,
  a refused set leaves the old one).

A container that restarts (crash, then `recover`) comes back with a new network namespace and no
table: its entry point (labkit.backends.compose.node) puts its rules back from `links.json` before
any server starts. A paused (frozen) container takes no `docker exec`, but its kernel still
answers (a TCP handshake completes in a frozen listener's backlog), so its table is written by a
short-lived helper container that joins its network namespace.

Limits: the match is on source addresses, so a reply a VRRP master sends from the VIP (to a node
that connected to the VIP) is not matched by a cut from that master; ARP still resolves across a
cut (an IP filter, not an unplugged cable). Traffic from the host and the device fleet is never
dropped: they are not nodes.
"""

from __future__ import annotations

import subprocess

from labkit.layout import Layout
from labkit.links import LinkFault, nft_rules

TABLE = "links"
#: run by `sh -c` inside a container: the script is the argument, fed to `nft -f -` (one
#: transaction); the Docker SDK's exec has no stdin
SHELL = 'printf "%s" "$1" | nft -f -'


def rules(layout: Layout, node: str, faults: list[LinkFault]) -> list[str]:
    """The input rules of `node`'s container: one per cut direction arriving at it, one or two
    (loss, rate) per impaired one."""
    return [rule for f in faults if f.dst == node
            for rule in nft_rules(f, f"ip saddr {layout.address(f.src)}")]


def script(layout: Layout, node: str, faults: list[LinkFault]) -> str:
    """The nftables script that makes `node`'s table exactly its rules for these faults, in one
    transaction: create-if-missing, delete, then the new table (none at all when no fault
    arrives at the node, so a healed container holds nothing of labkit's)."""
    lines = rules(layout, node, faults)
    head = f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"
    if not lines:
        return head
    body = "\n".join(f"        {r}" for r in lines)
    return head + f"""table inet {TABLE} {{
    chain input {{
        type filter hook input priority 0; policy accept;
{body}
    }}
}}
"""


def command(nft_script: str) -> list[str]:
    """The command that runs `nft_script` inside a container (exec, or a helper's command)."""
    return ["sh", "-c", SHELL, "nft", nft_script]


def apply_here(layout: Layout, node: str, faults: list[LinkFault]) -> str | None:
    """Inside the node's own container (its entry point): put its rules in force; returns
    nftables' complaint, or None."""
    res = subprocess.run(["nft", "-f", "-"], input=script(layout, node, faults),
                         capture_output=True, text=True)
    return None if res.returncode == 0 else (res.stderr.strip() or f"nft exit {res.returncode}")
