"""A nemesis that aims: fault plans made from a seed, named by roles and resolved at fault time.

A plan names *role targets* as well as nodes: ``vip-owner``, ``mysql-active``,
``mysql-standby``, ``postgres-primary``, ``postgres-standby``. Which node that is gets decided
when the fault fires (from the VIP's owner, ``lab.mysql.active()``, ``lab.postgres.active()``),
and the run's timeline records the node it hit. So the same seed always gives the same plan,
yet the faults keep landing on whoever holds the role *now*, after earlier failovers moved it.

The plans a learner chooses by name (`PLANS`):

* ``random``: half the faults aim at the VIP owner, the MySQL active or the PostgreSQL primary,
  half at the rest (standbys, any node, single services); crash, freeze, isolate and kill;
  now and then two faults overlap, a failover happens under a fault, or a frozen primary thaws.
* ``primary-killer``: crash the MySQL active, the PostgreSQL primary and the VIP owner in turn.
* ``failover-under-fault``: take a pair's standby out (first the way that makes it miss
  commits, `HARDER`, then the other way), then crash its active while the standby is still out;
  bring the standby back first, so it is the one that must decide whether it may take over.
* ``zombie-primary``: freeze an active long past its failover, then thaw it: the old primary
  wakes up believing it still leads and must fence itself.
* ``split-brain``: isolate the VIP owner, then each database active. See `SPLIT_BRAIN_NOTE` for
  what this backend can and cannot split.
* ``partitions`` (backends with link faults: netns, compose): cut the link between each pair's
  members, cut the VRRP adverts one way (two masters), put the VIP owner in a minority, isolate
  each active. The ``random`` plan mixes link faults in on those backends too.
* ``slow-links`` (backends that delay frames: netns): hold each pair's link, then the VRRP
  adverts, `LATE_DELAY` ± `LATE_JITTER` late both ways, Jepsen's slow network. Nothing should
  fail over: every timer of the lab is longer than the lateness (the adverts arrive late but
  evenly, inside the master-down interval). The run's own verdict is the usual one (nothing
  acknowledged lost); a takeover here would be a false one, which the run does not judge: the
  events show it (`labkit events`), and the suite's test of this plan fails on it.

A link fault names both ends, ``mysql-active~mysql-standby`` (``cut``: both ways; ``one-way``:
frames from the first to the second; ``late``: held back both ways), or one side, ``vip-owner``
(``partition``: that node and, when there is one, a spare node, against the rest). Heal removes
every link fault at once, so a link fault always fires alone.

The rules every plan keeps, so that it never asks for more than the topology survives without
losing acknowledged data *by design*:

1. Every fault ends (recover, thaw, rejoin) at least `heal` seconds before the run ends, and
   each step of the plan is followed by `heal` seconds for the cluster to settle.
2. At most two faults at once. An overlapping second fault only hits a node that holds no paired
   role (lb, mysql, postgres), and only when at least three nodes serve the app: one app server
   and one member of every pair always stay up.
3. Both members of a pair are never broken at once, except inside a step that is explicitly
   about it (`Fault.group`: "failover-under-fault" breaks the standby, then the active).
   Even then nothing acknowledged may be lost: a safe pair must refuse the lagging standby's
   promotion and wait for its active. The runner enforces rule 3 again at fault time, when roles
   are resolved, and skips (and records) a fault that would break it.
4. A service kill lasts no time: the node's supervisor restarts the program at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from labkit.errors import LabError
from labkit.topology import Topology

NODE_MODES = ("crash", "freeze", "isolate")
LINK_MODES = ("cut", "one-way", "partition", "late")
#: how late a `late` link's frames arrive, give or take (uniform): well inside every timer of
#: the lab (the default advert interval 0.2 s: adverts 0.3 s apart at most, against a master-down
#: interval of 0.73 s; the databases' 3 s), as a slow WAN link would be
LATE_DELAY, LATE_JITTER = "200ms", "50ms"
#: role target → the paired role it names (vip-owner: the lb pair)
ROLE_TARGETS = {"vip-owner": "lb", "mysql-active": "mysql", "mysql-standby": "mysql",
                "postgres-primary": "postgres", "postgres-standby": "postgres"}
#: a role target only link faults aim at (the other end of the adverts' one-way cut)
LINK_TARGETS = {"vip-backup": "lb"}
#: the targets that matter most: a fault there forces a failover
AIMED = ("vip-owner", "mysql-active", "postgres-primary")
#: the server program a role's kill aims at
ROLE_SERVICE = {"vip-owner": "apache", "mysql-active": "mysql", "mysql-standby": "mysql",
                "postgres-primary": "postgres", "postgres-standby": "postgres"}
PAIR_ROLES = {"mysql": ("mysql-active", "mysql-standby"),
              "postgres": ("postgres-primary", "postgres-standby")}
#: how to take a pair's standby out first in "failover-under-fault" so that it misses commits:
#: a frozen MariaDB still gets the binlog stream (its kernel buffers it) while a crashed one does
#: not; a restarted PostgreSQL standby waits for its primary, a frozen one is cut off by
#: wal_sender_timeout and later thawed, able to promote
HARDER = {"mysql": "crash", "postgres": "freeze"}
EASIER = {"mysql": "freeze", "postgres": "crash"}
SPLIT_BRAIN_NOTE = (
    "split-brain on this backend: isolating the VIP owner makes a real VRRP split brain (both "
    "lb nodes believe they are master; `labkit status` shows split_brain). The database pairs "
    "cannot split: their witness is a file both members always reach, which no network fault "
    "can partition, so isolating an active makes its standby take over and the old active "
    "fence itself: a failover, not a split brain. On the local backend isolation cuts less than "
    "its name (loopback); on netns and compose it cuts every packet.")
PLANS = {
    "random": "aimed and unaimed faults of every kind, some overlapping, from the seed",
    "primary-killer": "crash the MySQL active, the PostgreSQL primary and the VIP owner in turn",
    "failover-under-fault": "crash or freeze a pair's standby, then crash its active; the "
                            "standby returns first",
    "zombie-primary": "freeze an active past its failover, then thaw it: it must fence itself",
    "split-brain": SPLIT_BRAIN_NOTE,
    "partitions": "cut each pair's link, cut the VRRP adverts one way (two masters), put the VIP "
                  "owner in a minority, isolate each active (backends with link faults)",
    "slow-links": f"hold each pair's link, then the VRRP adverts, {LATE_DELAY} ± {LATE_JITTER} "
                  "late both ways: nothing should fail over (backends that delay links: netns)",
}
#: the plans that need link faults from the backend
LINK_PLANS = ("partitions", "slow-links")
#: the plans that need late links (frames held back) from the backend
DELAY_PLANS = ("slow-links",)


@dataclass(frozen=True)
class Fault:
    start: float  # seconds after the run starts
    duration: float  # seconds until recovery (0 for a kill: the supervisor restarts it)
    target: str  # a node or a role target, optionally /service (for a kill), A~B for a link
    mode: str  # crash | freeze | isolate | kill | cut | one-way | partition | late
    group: str = ""  # a step that breaks both members of a pair on purpose (rule 3)

    @property
    def end(self) -> float:
        return self.start + self.duration

    def describe(self) -> str:
        why = f"  [{self.group}]" if self.group else ""
        return (f"t+{self.start:5.1f}s {self.mode:<7} {self.target} "
                f"for {self.duration:.1f}s{why}")


@dataclass(frozen=True)
class _Lab:
    """What a plan may aim at in this topology."""

    nodes: tuple[str, ...]
    services: dict[str, list[str]]
    roles: tuple[str, ...]  # the role targets this topology has
    pairs: tuple[str, ...]  # mysql, postgres (those it has)
    spare: tuple[str, ...]  # nodes with no paired role: where an overlap may land (rule 2)
    links: bool = False  # the backend can cut and partition links


#: the roles held by a pair, of which one fault at a time may take a member (rule 3)
PAIRED = ("lb", "mysql", "postgres")


def spare_nodes(topology: Topology) -> tuple[str, ...]:
    """The nodes with no paired role: a fault there never costs a pair a member."""
    return tuple(n.name for n in topology.nodes if not set(n.roles) & set(PAIRED))


def _lab(topology: Topology, services: dict[str, list[str]], links: bool = False) -> _Lab:
    roles = tuple(r for r, role in ROLE_TARGETS.items() if topology.with_role(role))
    pairs = tuple(p for p in PAIR_ROLES if len(topology.with_role(p)) == 2)
    spare = spare_nodes(topology) if len(topology.with_role("app")) >= 3 else ()
    return _Lab(tuple(n.name for n in topology.nodes), services, roles, pairs, spare, links)


def make_plan(topology: Topology, services: dict[str, list[str]], duration: float, seed: int,
              heal: float = 8.0, max_fault: float = 10.0, name: str = "random",
              links: bool = False, delays: bool = False) -> list[Fault]:
    """The plan `name` for this topology, from `seed`: the same arguments, the same plan.
    `links`: the backend has link faults (without them a plan is what it always was);
    `delays`: it can also hold frames back (late links)."""
    if name not in PLANS:
        raise LabError(f"unknown chaos plan {name!r}", f"choose one of: {', '.join(PLANS)}")
    if name in LINK_PLANS and not links:
        raise LabError(f"the {name!r} plan needs link faults, which this backend does not have",
                       "start the lab with `labkit up --backend netns` (or compose)")
    if name in DELAY_PLANS and not delays:
        raise LabError(f"the {name!r} plan needs late links, which this backend cannot make",
                       "start the lab with `labkit up --backend netns`")
    lab, rng = _lab(topology, services, links), random.Random(f"{name}:{seed}")
    make = _STEPS[name]
    plan: list[Fault] = []
    t = round(rng.uniform(2.0, 5.0), 1)
    for turn in range(10_000):
        step = make(lab, rng, t, max_fault, turn)
        if not step:
            break
        end = max(f.end for f in step)
        if end + heal > duration:
            break
        plan += step
        t = round(end + heal + rng.uniform(0.0, 4.0), 1)
    return plan


Step = Callable[[_Lab, random.Random, float, float, int], list[Fault]]


def _random_step(lab: _Lab, rng: random.Random, t: float, max_fault: float,
                 _turn: int) -> list[Fault]:
    r = rng.random()
    if r < 0.12 and lab.pairs:
        return _failover_under_fault(lab, rng, t, max_fault)
    if r < 0.22 and lab.pairs:
        return _zombie(lab, rng, t, max_fault)
    if lab.links and rng.random() < 0.2:
        return [_link_fault(lab, rng, t)]
    first = _single(lab, rng, t, max_fault)
    if lab.spare and first.duration and rng.random() < 0.25:  # rule 2: a spare node only
        node = rng.choice(lab.spare)
        start = round(first.start + rng.uniform(0.5, first.duration), 1)
        return [first, Fault(start, round(rng.uniform(2.0, max_fault), 1), node,
                             rng.choice(NODE_MODES))]
    return [first]


def _single(lab: _Lab, rng: random.Random, t: float, max_fault: float) -> Fault:
    """One fault: half the time at a role that forces a failover, half at the rest."""
    aimed = [r for r in AIMED if r in lab.roles]
    if aimed and rng.random() < 0.5:
        target = rng.choice(aimed)
    else:
        target = rng.choice([r for r in lab.roles if r not in AIMED] + list(lab.nodes))
    if rng.random() < 0.25:
        service = ROLE_SERVICE.get(target) or _some_service(lab, rng, target)
        if service:
            return Fault(t, 0.0, f"{target}/{service}", "kill")
    return Fault(t, round(rng.uniform(3.0, max_fault), 1), target, rng.choice(NODE_MODES))


def _link_fault(lab: _Lab, rng: random.Random, t: float) -> Fault:
    """One link fault of the partitions plan's kinds, at the targets this topology has."""
    return _shift(rng.choice(_partition_targets(lab)), lab, rng, t, 0.0)[0]


def _partition_targets(lab: _Lab) -> list[str]:
    targets = [f"{a}~{b}:cut" for p in lab.pairs for a, b in [PAIR_ROLES[p]]]
    if "vip-owner" in lab.roles:
        targets += ["vip-owner~vip-backup:one-way", "vip-owner:partition"]
    return targets + [f"{PAIR_ROLES[p][0]}:isolate" for p in lab.pairs]


def _late_targets(lab: _Lab) -> list[str]:
    targets = [f"{a}~{b}:late" for p in lab.pairs for a, b in [PAIR_ROLES[p]]]
    return targets + (["vip-owner~vip-backup:late"] if "vip-owner" in lab.roles else [])


def _some_service(lab: _Lab, rng: random.Random, node: str) -> str | None:
    programs = sorted(lab.services.get(node, []))
    return rng.choice(programs) if programs else None


def _failover_under_fault(lab: _Lab, rng: random.Random, t: float, _max_fault: float,
                          pair: str | None = None, how: str | None = None) -> list[Fault]:
    """Break the standby (freeze or crash), let the active take writes alone, crash the active,
    bring the standby back while the active is still down: may it take over? (Only if it holds
    every acknowledged commit.) A frozen standby's kernel still buffers the replication stream
    it is sent, so a crashed standby is the harder test of the two."""
    pair = pair or rng.choice(lab.pairs)
    how = how or rng.choice(("freeze", "crash"))
    active, standby = PAIR_ROLES[pair]
    group = f"failover-under-fault {pair}"
    alone = 5.0 if how == "crash" else 9.0  # a frozen standby's stream ends at a timeout (5 s)
    return [Fault(t, alone + 2.0, standby, how, group),
            Fault(round(t + alone, 1), 10.0, active, "crash", group)]


def _zombie(lab: _Lab, rng: random.Random, t: float, _max_fault: float) -> list[Fault]:
    """Freeze an active long enough for its standby to take over, then thaw it."""
    active = PAIR_ROLES[rng.choice(lab.pairs)][0]
    return [Fault(t, round(rng.uniform(8.0, 12.0), 1), active, "freeze")]


def _cycle(targets: Callable[[_Lab], list[str]]) -> Step:
    """A step maker that walks through the same targets in turn ("role:what")."""
    def step(lab: _Lab, rng: random.Random, t: float, max_fault: float,
             turn: int) -> list[Fault]:
        choices = targets(lab)
        if not choices:
            return []
        return _shift(choices[turn % len(choices)], lab, rng, t, max_fault)
    return step


def _shift(what: str, lab: _Lab, rng: random.Random, t: float, max_fault: float) -> list[Fault]:
    role, _, mode = what.partition(":")
    if mode.startswith("failover-"):  # failover-crash: crash the standby first
        return _failover_under_fault(lab, rng, t, max_fault, ROLE_TARGETS[role],
                                     mode.removeprefix("failover-"))
    if mode == "zombie":
        return [Fault(t, round(rng.uniform(8.0, 12.0), 1), role, "freeze")]
    return [Fault(t, round(rng.uniform(4.0, 8.0), 1), role, mode)]


_STEPS: dict[str, Step] = {
    "random": _random_step,
    "primary-killer": _cycle(lambda lab: [f"{r}:crash" for r in AIMED if r in lab.roles]),
    "failover-under-fault": _cycle(lambda lab: [
        f"{PAIR_ROLES[p][0]}:failover-{how}" for first in (True, False) for p in lab.pairs
        for how in [HARDER[p] if first else EASIER[p]]]),
    "zombie-primary": _cycle(lambda lab: [f"{PAIR_ROLES[p][0]}:zombie" for p in lab.pairs]),
    "split-brain": _cycle(lambda lab: [f"{r}:isolate" for r in AIMED if r in lab.roles]),
    "partitions": _cycle(_partition_targets),
    "slow-links": _cycle(_late_targets),
}
