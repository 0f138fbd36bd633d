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

Late links (`--delay`, `--jitter`) are held back in the same place: iptables' NFQUEUE target
(this kernel has no netem, and nftables' own `queue` is not built in: the iptables target is)
queues each frame of a late direction in the receiver's INPUT chain, chain `LABKIT-DELAY`, and
the container's `links` program (labkit.backends.compose.delayer) gives each its verdict when its
time has come. Loss and rate are still the nftables table's, so a frame is dropped or held, never
counted twice.

Limits: the match is on source addresses, so a reply a VRRP master sends from the VIP (to a node
that connected to the VIP) is not matched by a cut from that master; ARP still resolves across a
cut (an IP filter, not an unplugged cable). Traffic from the host and the device fleet is never
dropped: they are not nodes.
"""

from __future__ import annotations

import subprocess

from labkit.backends.delayer import DELAY_CHAIN, queue_rule, restore_script
from labkit.layout import Layout
from labkit.links import LinkFault, nft_rules

TABLE = "links"
#: run by `sh -c` inside a container: the nftables script ($1), fed to `nft -f -` (one
#: transaction), then the late links' iptables chain ($2), written when a link is late ($3 = 1)
#: or was (the chain exists), and hooked into INPUT once; the Docker SDK's exec has no stdin
SHELL = ('printf "%s" "$1" | nft -f - || exit 1\n'
         f'if [ "$3" = 1 ] || iptables -S {DELAY_CHAIN} >/dev/null 2>&1; then\n'
         '  printf "%s" "$2" | iptables-restore --noflush || exit 1\n'
         f'  iptables -C INPUT -j {DELAY_CHAIN} 2>/dev/null || iptables -I INPUT -j {DELAY_CHAIN}\n'
         'fi')


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


def delays(layout: Layout, node: str, faults: list[LinkFault]) -> list[str]:
    """The iptables rules that queue each late direction arriving at `node`, each on its own
    queue."""
    return [queue_rule(layout, f, f"-s {layout.address(f.src)}/32")
            for f in faults if f.dst == node and f.delay]


def delay_script(layout: Layout, node: str, faults: list[LinkFault]) -> str:
    """iptables-restore's input that makes the chain exactly the late links' rules (one
    transaction: the chain flushed and filled at once)."""
    return restore_script([f"-F {DELAY_CHAIN}", *delays(layout, node, faults)])


def command(layout: Layout, node: str, faults: list[LinkFault]) -> list[str]:
    """The command that puts `node`'s rules for `faults` in force inside its container (exec,
    a helper's command, or the entry point's)."""
    late = "1" if delays(layout, node, faults) else "0"
    return ["sh", "-c", SHELL, "links", script(layout, node, faults),
            delay_script(layout, node, faults), late]


def apply_here(layout: Layout, node: str, faults: list[LinkFault]) -> str | None:
    """Inside the node's own container (its entry point): put its rules in force; returns
    nftables' or iptables' complaint, or None."""
    res = subprocess.run(command(layout, node, faults), capture_output=True, text=True)
    return None if res.returncode == 0 else (res.stderr.strip() or f"exit {res.returncode}")
