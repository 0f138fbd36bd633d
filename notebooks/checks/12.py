"""Hidden checks of lesson 12 (`labkit.ui.course.check("12", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away.

`setting` takes the learner's function `setting(text, name)` and tries it first on fresh random
config texts, each built to test one rule (comments, spacing, `name: value`, the last line wins,
`-` for `_`, quotes, a longer name, an absent one), then on the lab's own running files (my.cnf,
postgresql.conf, postgresql.auto.conf, cassandra.yaml), whose expected values this module's
`value_of` reads from the files themselves. `commit_mode` checks a cassandra.yaml name against
the lab's running cassandra.yaml.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: a setting's name at the start of a line, then `=` or `:` and the value
_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*[=:]\s*(.*)$")

#: the settings the lesson reads in each of the lab's files: (service, file) → names
REAL = {("mysql", "my.cnf"): ("server_id", "log_bin", "gtid_strict_mode",
                              "rpl_semi_sync_master_wait_point", "rpl_semi_sync_master_enabled",
                              "sync_binlog"),
        ("postgres", "postgresql.conf"): ("wal_level", "synchronous_commit", "hot_standby",
                                          "max_connections", "shared_buffers",
                                          "synchronous_standby_names"),
        ("postgres", "postgresql.auto.conf"): ("synchronous_standby_names",),
        ("cassandra", "cassandra.yaml"): ("num_tokens", "commitlog_sync", "cluster_name",
                                          "phi_convict_threshold")}


def _key(name: str) -> str:
    """MariaDB reads `-` and `_` in an option's name alike (server-id is server_id)."""
    return name.strip().replace("-", "_")


def value_of(text: str, name: str) -> str | None:
    """The value `name` is set to in `text` (my.cnf, postgresql.conf, cassandra.yaml's top
    level): `#` starts a comment, the last line that sets it wins, quotes are not part of it."""
    found = None
    for line in text.splitlines():
        m = _LINE.match(line.split("#", 1)[0])
        if m and _key(m.group(1)) == _key(name):
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            found = value
    return found


# -- random cases, one rule each -------------------------------------------------------------------
Case = tuple[str, str, str | None, str]  # text, name, expected value, the hint if it is missed


def _word(rng: random.Random, n: int = 6) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def _filler(rng: random.Random) -> list[str]:
    return [f"{_word(rng)}_{_word(rng, 4)} = {rng.randint(1, 999)}", "", "[mysqld]",
            f"# {_word(rng)} {_word(rng)}"]


def _cases(rng: random.Random) -> Iterator[Case]:
    name, value, old = f"{_word(rng)}_{_word(rng, 5)}", str(rng.randint(10, 9999)), _word(rng)

    def text(*lines: str) -> str:
        body = _filler(rng) + list(lines) + _filler(rng)
        return "\n".join(body) + "\n"

    yield text(f"{name} = {value}"), name, value, "read `name = value`: the value after the ="
    yield (text(f"{name}={value}"), name, value,
           "`name=value` without spaces is the same setting (my.cnf writes it so)")
    yield (text(f"   {name}   =   {value}   "), name, value,
           "spaces around the name, the = and the value are not part of either")
    yield (text(f"{name}: {value}"), name, value,
           "cassandra.yaml writes `name: value`: a colon separates them too")
    yield (text(f"{name} = {value}", f"#{name} = {old}", f"# {name}: {old}"), name, value,
           "a line that starts with # is a comment: it sets nothing")
    yield (text(f"{name} = {value}    # was {old} = 3"), name, value,
           "a # later in a line starts a comment too: the value ends before it")
    yield (text(f"{name} = {old}", f"{name} = {value}"), name, value,
           "a name set twice: the last line counts (PostgreSQL ignores all but the last entry, "
           "and MariaDB takes the last option it reads)")
    yield (text(f"{name.replace('_', '-')}={value}"), name, value,
           "MariaDB reads - and _ in a name alike: server-id in my.cnf is server_id")
    yield (text(f"{name}_{old} = {old}", f"{name} = {value}", f"{name}{old}: 7"), name, value,
           "a longer name that begins with the same letters is another setting: compare the "
           "whole name")
    yield (text(f"{name} = '{value}'"), name, value,
           "quotes around a value ('*' in postgresql.auto.conf) are not part of it")
    yield (text(f"#{name} = {value}"), name, None,
           "return None when no line sets the name (a commented-out line sets nothing)")


# -- the lab's own files ----------------------------------------------------------------------
def real_files(lab: Any) -> Iterator[tuple[str, str, str]]:
    """(where, file's text, name) for every setting of REAL in the running lab's files, read
    from the first node of each role (`Cluster.config_files`, what `labkit config` prints)."""
    topology = lab.layout.topology
    for (service, file), names in REAL.items():
        nodes = topology.with_role(service)
        if not nodes:
            continue
        node = nodes[0].name
        path = lab.config_files(f"{node}/{service}").get(file)
        try:
            text = Path(path).read_text() if path else None
        except OSError:  # a root lab's PostgreSQL data; the random cases still check
            text = None
        if text is not None:
            for name in names:
                yield f"{node}'s {file}", text, name


def _shown(v: Any) -> str:
    return repr(v) if not isinstance(v, str) or len(v) < 60 else repr(v[:57] + "...")


def setting(answer: Any, lab: Any) -> str | None:
    """The learner's `setting(text, name)` on random cases, then on the lab's real files."""
    if not callable(answer):
        return "write a function setting(text, name) and pass the function itself"
    rng = random.Random()
    for text, name, want, hint in _cases(rng):
        try:
            got = answer(text, name)
        except Exception as exc:  # noqa: BLE001 - the learner's bug is a hint
            return f"your function raised {type(exc).__name__}: {exc} (hint: {hint})"
        if got != want:
            return f"asked for {name!r} it returned {_shown(got)}: {hint}"
    for where, text, name in real_files(lab):
        want = value_of(text, name)
        try:
            got = answer(text, name)
        except Exception as exc:  # noqa: BLE001
            return f"on {where}, asked for {name!r}, it raised {type(exc).__name__}: {exc}"
        if got != want:
            return (f"on {where}, asked for {name!r}, it returned {_shown(got)}; the file sets "
                    f"{_shown(want)} (print the lines that mention it and compare)")
    return None


# -- the question on Cassandra's commit log -----------------------------------------------------
_COMMIT_HINTS = {
    "commitlog_sync_period": "that is how often a periodic commit log reaches the disk; which "
                             "setting chooses between periodic and batch?",
    "commitlog_directory": "that is where the commit log lives, not when it reaches the disk",
    "commitlog_segment_size": "that is how big each commit-log file grows",
    "write_request_timeout": "that is how long a coordinator waits for replicas, not for a disk",
    "num_tokens": "num_tokens is how many ranges of the ring a node owns",
    "hinted_handoff_enabled": "hints keep writes for a replica that is down, not for the disk",
}


def cassandra_yaml(lab: Any) -> str | None:
    """The running cassandra.yaml of the lab's first Cassandra node, or None without one."""
    return next((t for w, t, _n in real_files(lab) if w.endswith("cassandra.yaml")), None)


def commit_mode(answer: Any, lab: Any) -> str | None:
    """The cassandra.yaml setting that decides whether a write has reached the disk before a
    node acknowledges it: commitlog_sync (batch: fsync first; periodic: every period). Checked
    against the lab's running cassandra.yaml when it has one."""
    if not isinstance(answer, str) or not answer.strip():
        return "give the setting's name as a string, e.g. 'num_tokens'"
    name = _key(answer.strip().rstrip(":"))
    yaml = cassandra_yaml(lab)
    if yaml is not None and value_of(yaml, name) is None:
        return f"the lab's cassandra.yaml has no line setting {name!r}: read it again"
    if name == "commitlog_sync":
        return None
    return _COMMIT_HINTS.get(name, "look for the commit-log setting whose value is periodic or "
                                   "batch")

