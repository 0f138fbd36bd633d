"""The netns backend's network: one namespace per node, joined by a bridge in a switch namespace.

Mininet's model, as root, for the lab whose /24 is 10.213.Y:

    lk-Y-sw      the lab's switch: bridge br0 with one port per node (p11, p12, ...) and `host`
    lk-Y-NODE    a node: lo, and eth0 holding its address (.11, .12, ...), cabled to its port
    lk-Y         on the host, cabled to the switch's `host` port: .1, so clients on the host (the
                 CLI, notebooks, tests) reach every node and the VIP directly, and .200, the
                 device fleet's address (the lab-wide supervisor runs on the host)

Without root (`rootless`), the same namespaces inside a user namespace the lab's holder makes
(labkit.backends.netns.holder), on the lab's claimed 127.x.y.0/24: the holder's own network
namespace stands where the host stands above, and the host reaches the lab through the holder's
TCP forwarder on the same addresses. Every command the CLI runs on the lab's namespaces goes
through `enter` (labkit.backends.netns.enter).

The bridge sits in a namespace of its own, not on the host: with br_netfilter loaded the host's
bridged frames pass iptables' FORWARD chain, where Docker's policy is DROP. In the switch
namespace only the lab's own rules apply. A node namespace has no route but its /24, so nothing
in the lab can send anywhere else; a blackhole route keeps the host's traffic for the /24 on this
machine once the lab is down.

Isolation cuts the node's cable at the switch: an nftables bridge table drops every frame into or
out of its port (ARP, IP, VRRP adverts, multicast). The node keeps running and keeps believing
what it believed (an isolated VRRP master stays master: a real split brain).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil

from labkit import wait
from labkit.backends.compose.network import keep_on_this_machine
from labkit.backends.delayer import DELAY_CHAIN, queue_rule, restore_script
from labkit.backends.local import network as claims
from labkit.backends.netns import forwarder
from labkit.errors import LabError
from labkit.layout import Layout
from labkit.lb import keepalived
from labkit.links import LinkFault, nft_rules

CANDIDATES = [f"10.213.{third}" for third in range(1, 255)]
HOST_ADDRESS = 1  #: the host's own address on the lab's bridge
BRIDGE = "br0"  #: inside the switch namespace, so one name serves every lab


#: `unshare` as the holder is started through it: a user namespace in which the lab's user keeps
#: its uid (PostgreSQL and MariaDB refuse uid 0) and every capability, over new network and mount
#: namespaces only
USERNS = ["unshare", "--user", "--map-current-user", "--keep-caps", "--net", "--mount"]
ENTER = Path(__file__).with_name("enter.py")
HOLDER = "labkit.backends.netns.holder"  #: the module the holder runs


def with_sbin() -> None:
    """Put /usr/sbin and /sbin on PATH (an ordinary user's PATH lacks them): nft, iptables,
    sysctl and keepalived live there, and a rootless lab runs them."""
    parts = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in ("/usr/sbin", "/sbin") if d not in parts]
    if missing:
        os.environ["PATH"] = os.pathsep.join([*parts, *missing])


def unavailable() -> str | None:
    """Why this machine cannot run a netns lab, or None (as root, or rootless where this
    machine lets an ordinary user make a user namespace: asked first, since it is what Binder's
    containers and chroots refuse)."""
    with_sbin()
    if os.geteuid() != 0:
        why = _no_user_namespace()
        if why:
            return why
    elif subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return "this machine refuses new network namespaces (a container without CAP_SYS_ADMIN?)"
    if shutil.which("ip") is None or shutil.which("nft") is None:
        return "`ip` (iproute2) and `nft` (nftables) are needed for the netns backend"
    try:
        keepalived.binary()
    except LabError:
        return "keepalived is needed for the netns backend (`make setup` installs it)"
    return None


def _no_user_namespace() -> str | None:
    """Why an ordinary user cannot make the lab's user namespace here, or None."""
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) is missing, so a rootless netns lab cannot own a network"
    res = subprocess.run([*USERNS, "true"], capture_output=True, text=True)
    if res.returncode != 0:
        return ("this machine refuses an ordinary user a user namespace "
                f"({res.stderr.strip() or 'unshare failed'}), so a rootless netns lab "
                "cannot own its network")
    return None


def check() -> None:
    """Fail at once, before anything is written, where a netns lab cannot start."""
    why = unavailable()
    if why:
        raise LabError(why, "use `--backend local` (plain processes on loopback)")


def claim(rundir: Path) -> str:
    """A /24 in 10.213.0.0/16 no other lab claimed and no interface of this machine uses; a
    rootless lab's, a loopback /24 (the host holds its addresses too, for the forwarder)."""
    if os.geteuid() != 0:
        return claims.claim(rundir)
    used = {a.address.rsplit(".", 1)[0] for addrs in psutil.net_if_addrs().values()
            for a in addrs if a.family == socket.AF_INET}
    prefix = claims.claim_first(rundir, CANDIDATES, used)
    if prefix is None:
        raise LabError("no free /24 left in 10.213.0.0/16 for a netns lab",
                       "stop another lab, or remove stale claims in " + str(claims.CLAIMS))
    return prefix


def rootless(layout: Layout) -> bool:
    """Whether the lab lives in its holder's user namespace (its /24 is then a loopback one)."""
    return layout.prefix.startswith("127.")


def mode(layout: Layout) -> str:
    return "netns (rootless: user namespace)" if rootless(layout) else "netns (root)"


# -- a rootless lab's holder ----------------------------------------------------------------------
def holder_pid(layout: Layout) -> int | None:
    """The pid of the lab's holder, while it runs."""
    try:
        pid = int(layout.paths.holder.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:  # alive, and not another program that was given the pid of a holder long gone
        proc = psutil.Process(pid)
        alive = proc.status() != psutil.STATUS_ZOMBIE and HOLDER in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid if alive else None


def _in_user_namespace_of(pid: int) -> bool:
    try:
        return os.readlink("/proc/self/ns/user") == os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return False


def enter(layout: Layout) -> list[str]:
    """The prefix that runs a command in the lab's namespaces from this process: none as root,
    or for a process already inside (the holder, the lab-wide supervisor's programs)."""
    if not rootless(layout):
        return []
    pid = holder_pid(layout)
    if pid is None:
        raise LabError(f"the network of the lab {layout.lab!r} is not up (its holder, the "
                       "process its namespaces live in, is not running)",
                       "`labkit down` then `labkit up` starts it again")
    if _in_user_namespace_of(pid):
        return []
    return [sys.executable, "-I", str(ENTER), str(pid)]


def start_holder(layout: Layout) -> None:
    """Bind the host's side of the forwarder, then start the holder through `unshare` (detached:
    `setsid --fork`, so it outlives this process) and wait until the lab's namespaces are up."""
    stop_holder(layout)
    paths = layout.paths
    paths.lab_services.mkdir(parents=True, exist_ok=True)
    paths.holder_ready.unlink(missing_ok=True)
    with forwarder.bound(layout) as socks, open(paths.holder_log, "ab") as log:
        fds = [s.fileno() for s in socks]
        subprocess.run(["setsid", "--fork", *USERNS, sys.executable, "-m", HOLDER,
                        "--lab", layout.lab,
                        "--fds", ",".join(map(str, fds))],
                       pass_fds=fds, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                       check=True)
    if not wait.until(paths.holder_ready.exists, 30, every=0.05,
                      stop=lambda: paths.holder.exists() and holder_pid(layout) is None):
        tail = paths.holder_log.read_text(errors="replace")[-1500:]
        stop_holder(layout)
        raise LabError(f"the lab's network did not come up in its user namespace:\n{tail}",
                       f"see {paths.holder_log}")


def stop_holder(layout: Layout) -> None:
    """Ask the holder to remove the lab's namespaces (it kills what still runs in them) and
    exit; kill it if it has not within 30 s."""
    pid = holder_pid(layout)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    if not wait.until(lambda: holder_pid(layout) is None, 30, every=0.05):
        os.kill(pid, signal.SIGKILL)
        wait.until(lambda: holder_pid(layout) is None, 5, every=0.05)
    layout.paths.holder.unlink(missing_ok=True)


# -- names ----------------------------------------------------------------------------------------
def lab_id(layout: Layout) -> str:
    """Short and unique on this machine: the claimed /24's third octet."""
    return f"lk-{layout.prefix.rsplit('.', 1)[1]}"


def namespace(layout: Layout, node: str) -> str:
    return f"{lab_id(layout)}-{node}"


def switch(layout: Layout) -> str:
    return f"{lab_id(layout)}-sw"


def host_link(layout: Layout) -> str:
    """The host's end of the cable to the switch (interface names are at most 15 bytes)."""
    return lab_id(layout)


def port(layout: Layout, node: str) -> str:
    """The node's port on the switch, named by its address (p11 for .11)."""
    return f"p{layout.address(node).rsplit('.', 1)[1]}"


def namespaces(layout: Layout) -> list[str]:
    return [switch(layout), *(namespace(layout, n.name) for n in layout.nodes)]


def netns_exec(ns: str) -> list[str]:
    """The prefix that runs a program in a namespace of the lab, for a process inside the lab
    (a program of the lab's supervisors)."""
    return ["ip", "netns", "exec", ns]


def in_switch(layout: Layout) -> list[str]:
    """The command prefix that runs a program inside the lab's switch namespace, from here."""
    return [*enter(layout), *netns_exec(switch(layout))]


def in_namespace(layout: Layout, node: str) -> list[str]:
    """The command prefix that runs a program inside the node's namespace, from here."""
    return [*enter(layout), *netns_exec(namespace(layout, node))]


# -- making and removing --------------------------------------------------------------------------
def ip(layout: Layout, *args: str, ns: str | None = None, check: bool = True) -> None:
    """`ip` in the lab (in namespace `ns` if given); a failure raises, unless `check` is False
    (removing what may already be gone)."""
    cmd = [*enter(layout), "ip", *(["-n", ns] if ns else []), *args]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise LabError(f"`{' '.join(cmd)}` failed: {res.stderr.strip()}")


def existing_namespaces(layout: Layout) -> set[str]:
    out = subprocess.run([*enter(layout), "ip", "netns", "list"], capture_output=True,
                         text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def create(layout: Layout) -> None:
    """The switch, the host's cable to it and every node's namespace (anything left of an earlier
    run is removed first); rootless, the holder that builds them in its user namespace."""
    if rootless(layout):
        start_holder(layout)
        return
    destroy(layout)
    build(layout)


def loopback_only_here(layout: Layout, ns: str | None = None) -> None:
    """Rootless, in one of the lab's namespaces: the lab's 127.x.y addresses must be able to
    travel its cables, so loopback keeps 127.0.0.1 only (not all of 127/8) and every interface
    routes 127/8 (`route_localnet`, set before the lab's interfaces exist so they inherit it)."""
    ip(layout, "link", "set", "lo", "up", ns=ns)
    ip(layout, "addr", "del", "127.0.0.1/8", "dev", "lo", ns=ns, check=False)  # not there: fine
    ip(layout, "addr", "add", "127.0.0.1/32", "dev", "lo", ns=ns)
    subprocess.run([*(netns_exec(ns) if ns else []), "sysctl", "-qw",
                    "net.ipv4.conf.all.route_localnet=1",
                    "net.ipv4.conf.default.route_localnet=1"], check=True, capture_output=True)


def build(layout: Layout) -> None:
    """Make the switch, the cable from here to it and every node's namespace (in the holder's
    namespaces when rootless: this process is then the holder)."""
    sw, p = switch(layout), layout.prefix
    if rootless(layout):
        loopback_only_here(layout)
    ip(layout, "netns", "add", sw)
    ip(layout, "link", "set", "lo", "up", ns=sw)
    # snooping off: the bridge floods multicast (the app servers' heartbeats) to every port
    ip(layout, "link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0", ns=sw)
    ip(layout, "link", "set", BRIDGE, "up", ns=sw)
    host = host_link(layout)
    ip(layout, "link", "add", host, "type", "veth", "peer", "name", "host", "netns", sw)
    ip(layout, "link", "set", "host", "master", BRIDGE, "up", ns=sw)
    for host_part in (HOST_ADDRESS, int(layout.fleet_address.rsplit(".", 1)[1])):
        ip(layout, "addr", "add", f"{p}.{host_part}/24", "dev", host)
    ip(layout, "link", "set", host, "up")
    if not rootless(layout):
        keep_on_this_machine(p)
    for n in layout.nodes:
        add_node(layout, n.name)


def add_node(layout: Layout, node: str) -> None:
    """A node's namespace: lo up, eth0 with its address cabled to its switch port, and
    ip_nonlocal_bind so Apache can listen on the VIP before keepalived adds it here."""
    ns, sw, cable = namespace(layout, node), switch(layout), port(layout, node)
    ip(layout, "netns", "add", ns)
    if rootless(layout):
        loopback_only_here(layout, ns)
    else:
        ip(layout, "link", "set", "lo", "up", ns=ns)
    ip(layout, "link", "add", cable, "type", "veth", "peer", "name", "eth0", "netns", ns, ns=sw)
    ip(layout, "link", "set", cable, "master", BRIDGE, "up", ns=sw)
    ip(layout, "addr", "add", f"{layout.address(node)}/24", "dev", "eth0", ns=ns)
    ip(layout, "link", "set", "eth0", "up", ns=ns)
    subprocess.run([*in_namespace(layout, node), "sysctl", "-qw",
                    "net.ipv4.ip_nonlocal_bind=1"], check=True, capture_output=True)


def pids(layout: Layout, ns: str) -> list[int]:
    """The processes in one of the lab's namespaces (host pids)."""
    out = subprocess.run([*enter(layout), "ip", "netns", "pids", ns], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def destroy(layout: Layout) -> list[int]:
    """Kill whatever still runs in the lab's namespaces, then remove them and the host's cable
    (the veths inside go with their namespaces). Returns the pids it had to kill. Rootless,
    from outside: the holder does it, then exits (its namespaces go with it)."""
    if rootless(layout):
        pid = holder_pid(layout)
        if pid is None:  # gone, and its namespaces with it
            return []
        if not _in_user_namespace_of(pid):  # from outside: the holder removes them
            stop_holder(layout)
            return []
    present = existing_namespaces(layout)
    killed: list[int] = []
    for ns in namespaces(layout):
        if ns not in present:
            continue
        for pid in pids(layout, ns):
            try:
                psutil.Process(pid).kill()
                killed.append(pid)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs([p for p in map(_process, killed) if p], timeout=5)
        ip(layout, "netns", "del", ns)
    host = host_link(layout)
    ip(layout, "link", "del", host, check=False)  # gone already: fine
    if not rootless(layout):  # the holder's cable goes with its namespace when it exits
        # the kernel tears namespaces down in the background: wait until the cable is gone
        wait.until(lambda: not link_exists(host), 10)
    return killed


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def leftovers(layout: Layout) -> list[str]:
    """Every namespace or host interface of the lab that still exists (empty after `down`);
    rootless, its holder while it runs (the namespaces live as long as it does)."""
    if rootless(layout):
        pid = holder_pid(layout)
        return [] if pid is None else [f"holder {pid}", *sorted(existing_namespaces(layout))]
    found = sorted(set(namespaces(layout)) & existing_namespaces(layout))
    return found + ([host_link(layout)] if link_exists(host_link(layout)) else [])


# -- the VIP a dead node held ---------------------------------------------------------------------
def drop_vip(layout: Layout, node: str) -> None:
    """Take the VIP off a crashed node's interface. Its programs died by SIGKILL,
    keepalived among them, which leaves the address behind; the namespace's kernel outlives them
    (unlike a machine that lost power) and would go on answering ARP for the VIP beside the new
    master, so clients could keep reaching the dead node, or not lose it at all. Nothing of the
    node runs until `recover`, so it boots with its own address only, as a machine would:
    keepalived adds the VIP where it becomes master."""
    ip(layout, "addr", "del", f"{layout.vip}/24", "dev", "eth0", ns=namespace(layout, node),
       check=False)  # not there: fine


# -- isolation ------------------------------------------------------------------------------------
def _cut_table(node: str) -> str:
    return f"isolate_{node}"


def isolate(layout: Layout, node: str) -> str:
    """Drop every frame into or out of the node's switch port; returns the port cut."""
    cable = port(layout, node)
    script = f"""table bridge {_cut_table(node)} {{
    chain cut {{
        type filter hook forward priority -10; policy accept;
        iifname "{cable}" counter drop comment "from {node}"
        oifname "{cable}" counter drop comment "to {node}"
    }}
}}
"""
    res = subprocess.run([*in_switch(layout), "nft", "-f", "-"],
                         input=script, capture_output=True, text=True)
    if res.returncode != 0:
        raise LabError(f"nftables refused the isolation rules: {res.stderr.strip()}")
    return cable


def heal(layout: Layout, node: str) -> None:
    """Remove the node's cut (other isolated nodes stay cut)."""
    subprocess.run([*in_switch(layout), "nft", "delete", "table", "bridge",
                    _cut_table(node)], capture_output=True)



# -- link faults ----------------------------------------------------------------------------------
LINKS_TABLE = "links"


def _link_rule(layout: Layout, fault: LinkFault) -> list[str]:
    """The switch rules for one direction of one link: frames from the src's port to the dst's."""
    return nft_rules(fault, f'iifname "{port(layout, fault.src)}" '
                            f'oifname "{port(layout, fault.dst)}"')


def apply_links(layout: Layout, faults: list[LinkFault]) -> None:
    """Replace the switch's link rules with exactly these: the drops in one nftables transaction
    (the old set and the new never mix, and a refused set leaves the old one in force), then the
    late links' queues (`apply_delays`)."""
    if any(f.delay for f in faults) and shutil.which("iptables") is None:
        raise LabError("a late link needs iptables (its NFQUEUE target), which is not installed",
                       "install it (`make setup` does), or use --loss / --rate")
    _apply_drops(layout, faults)
    apply_delays(layout, faults)


def _apply_drops(layout: Layout, faults: list[LinkFault]) -> None:
    rules = "\n".join(f"        {r}" for f in faults for r in _link_rule(layout, f))
    script = f"""table bridge {LINKS_TABLE} {{}}
delete table bridge {LINKS_TABLE}
table bridge {LINKS_TABLE} {{
    chain faults {{
        type filter hook forward priority 0; policy accept;
{rules}
    }}
}}
"""
    res = subprocess.run([*in_switch(layout), "nft", "-f", "-"],
                         input=script, capture_output=True, text=True)
    if res.returncode != 0:
        raise LabError(f"nftables refused the link rules: {res.stderr.strip()}")


# -- late links -----------------------------------------------------------------------------------
def apply_delays(layout: Layout, faults: list[LinkFault]) -> None:
    """Queue the IPv4 frames of each late link at the switch (iptables' NFQUEUE target, with the
    bridge's frames passing iptables through br_netfilter), where the delayer holds each back."""
    rules = [queue_rule(layout, f, f"-m physdev --physdev-in {port(layout, f.src)} "
                                   f"--physdev-out {port(layout, f.dst)}")
             for f in faults if f.delay]
    sw = in_switch(layout)
    if not rules and subprocess.run([*sw, "iptables", "-S", DELAY_CHAIN],
                                    capture_output=True).returncode != 0:
        return  # no late link now, and none since the lab started: nothing to empty
    if rules and subprocess.run([*sw, "iptables", "-C", "FORWARD", "-j", DELAY_CHAIN],
                                capture_output=True).returncode != 0:
        subprocess.run([*sw, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"],
                       capture_output=True)
        _iptables_restore(sw, [f"-I FORWARD -j {DELAY_CHAIN}"])
    _iptables_restore(sw, [f"-F {DELAY_CHAIN}", *rules])


def _iptables_restore(sw: list[str], lines: list[str]) -> None:
    res = subprocess.run([*sw, "iptables-restore", "--noflush"], input=restore_script(lines),
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise LabError(f"iptables refused the late links' queue rules: {res.stderr.strip()}")
