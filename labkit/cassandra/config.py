"""One Cassandra node's files: cassandra.yaml, the JVM's arguments, logging, its rack.

Sized for a laptop: a heap of 48 MiB that grows to 128 MiB under load and is given back after a
full collection (the ring at rest holds ~45 MiB live), C1-only JIT, serial GC, small caches,
buffer pools and thread pools, JMX off
(two JVMs on one host would fight over port 7199) and every directory under the node's own run
directory. The ring starts fast: every node is a seed with a fixed token, so no node bootstraps
or waits for gossip to settle. Settings follow Cassandra 5.0's cassandra.yaml (the files are
rendered from the templates in `templates/`) and jvm17-server.options.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Sequence
from pathlib import Path

from labkit import templating
from labkit.cassandra import jars
from labkit.component import hand_over
from labkit.errors import LabError
from labkit.layout import Layout

USER = "cassandra"  #: the system user Cassandra runs as when the lab is root

HEAP = "128M"  #: the most the heap may grow to
#: where it starts and what a full collection shrinks it back towards (MaxHeapFreeRatio): at a
#: fixed 128 MiB each node kept ~100 MiB resident at rest, twice what it holds live
HEAP_START = "48M"
DC, RACK = "dc1", "rack1"
KEYSPACE = "labkit_files"

#: Cassandra's own list for Java 17 (conf/jvm17-server.options): what it reaches into the JDK for.
JPMS = [
    "-Djdk.attach.allowAttachSelf=true",
    *(f"--add-exports={m}=ALL-UNNAMED" for m in (
        "java.base/jdk.internal.misc", "java.management.rmi/com.sun.jmx.remote.internal.rmi",
        "java.rmi/sun.rmi.registry", "java.rmi/sun.rmi.server", "java.sql/java.sql",
        "java.base/java.lang.ref", "jdk.unsupported/sun.misc",
        "jdk.compiler/com.sun.tools.javac.file", "jdk.attach/sun.tools.attach")),
    *(f"--add-opens={m}=ALL-UNNAMED" for m in (
        "java.base/java.lang.module", "java.base/jdk.internal.loader",
        "java.base/jdk.internal.ref", "java.base/jdk.internal.reflect",
        "java.base/jdk.internal.math", "java.base/jdk.internal.module",
        "java.base/jdk.internal.util.jar", "jdk.management/com.sun.management.internal",
        "java.base/sun.nio.ch", "java.base/java.io", "java.base/java.lang.reflect",
        "jdk.compiler/com.sun.tools.javac", "java.base/java.lang", "java.base/java.util")),
]

#: Cassandra's system property for the bcrypt cost of the roles it creates (the name is checked
#: against the server: an unknown -D name is silently ignored)
BCRYPT_ROUNDS_PROPERTY = "cassandra.auth_bcrypt_gensalt_log2_rounds"
BCRYPT_ROUNDS = 4  # the least Cassandra accepts


def ring_nodes(layout: Layout) -> list[str]:
    return [n.name for n in layout.topology.with_role("cassandra")]


def replication_factor(layout: Layout) -> int:
    """Two copies of everything (one with a single-node ring)."""
    return min(2, len(ring_nodes(layout)))


def token(layout: Layout, node: str) -> int:
    """Evenly spaced Murmur3 tokens, one per node: a fixed ring needs no bootstrap."""
    ring = ring_nodes(layout)
    return -(2**63) + ring.index(node) * (2**64 // len(ring))


def home(layout: Layout, node: str) -> Path:
    return layout.paths.service(node, "cassandra")


def server_account() -> pwd.struct_passwd | None:
    """The user Cassandra runs as when the lab runs as root: `cassandra`, as Apache Cassandra's
    own Debian package has it (a server never runs as root). No Debian package installs
    Cassandra here, so the lab creates the system user the way such a package's postinst does,
    once. None when the lab is not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    made = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                           "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", USER],
                          capture_output=True, text=True, check=False)
    if made.returncode not in (0, 9):  # 9: created meanwhile by another lab
        raise LabError(f"could not create the system user {USER!r} to run Cassandra as: "
                       f"{made.stderr.strip()}",
                       f"create it: useradd --system --user-group --shell /usr/sbin/nologin {USER}")
    return pwd.getpwnam(USER)


def own(base: Path) -> None:
    """Everything of the node's Cassandra belongs to its server's user (the data, commit log,
    hints and configuration); labs started while it ran as root are handed over here."""
    hand_over(base, server_account())


def conf_dir(layout: Layout, node: str) -> Path:
    return home(layout, node) / "conf"


def render(layout: Layout, node: str, share: Sequence[str] = ()) -> Path:
    """Write the node's conf/ and return the file of java arguments the launcher runs.
    `share`: the flags that map the class archive (cds.flags(), none when it was not built)."""
    base = home(layout, node)
    write_conf(conf_dir(layout, node), cassandra_yaml(layout, node, base))
    args = base / "java.json"
    args.write_text(json.dumps(java_command(layout, node, base, list(share)), indent=1))
    return args


def write_conf(conf: Path, yaml: str) -> None:
    """A node's conf/: its cassandra.yaml, its rack and its logging."""
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "cassandra.yaml").write_text(yaml)
    (conf / "cassandra-rackdc.properties").write_text(
        templating.render(__file__, "cassandra-rackdc.properties.j2", dc=DC, rack=RACK))
    (conf / "logback.xml").write_text(templating.render(__file__, "logback.xml.j2"))


def cassandra_yaml(layout: Layout, node: str, base: Path) -> str:
    """cassandra.yaml from templates/cassandra.yaml.j2: a template, not a dumped dict, so the
    learner reads each setting beside the reason it has its value."""
    ports = layout.ports
    return templating.render(
        __file__, "cassandra.yaml.j2", node=node, cluster_name=f"labkit-{layout.lab}",
        initial_token=token(layout, node), address=layout.address(node), base=base,
        seeds=[f"{layout.address(n)}:{ports.cassandra_storage}" for n in ring_nodes(layout)],
        storage_port=ports.cassandra_storage, cql_port=ports.cassandra_cql,
        commitlog_sync=layout.topology.cassandra.commitlog_sync)


def java_command(layout: Layout, node: str, base: Path, share: list[str]) -> list[str]:
    return jvm_command(base, rf=str(replication_factor(layout)), share=share)


def jvm_command(base: Path, rf: str, share: list[str]) -> list[str]:
    """The java command of a node whose files are under `base`. `share`: the class archive's
    flags (cds.py: those that map it, or those that dump it). The node's conf/ comes last
    on the classpath: the archive is only valid for the classpath it was built with or one that
    extends it, and no jar holds a file of conf/'s names."""
    jar_paths = jars.classpath()
    jamm = [p for p in jar_paths if p.name.startswith("jamm-")]
    conf = base / "conf"
    cpus = str(min(2, os.cpu_count() or 1))
    return [
        jars.java_binary(),
        *share,
        f"-Xms{HEAP_START}", f"-Xmx{HEAP}", "-XX:MinHeapFreeRatio=10",
        "-XX:MaxHeapFreeRatio=30", "-Xss256k", "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=48m",
        "-XX:MaxDirectMemorySize=128m", "-XX:+ExitOnOutOfMemoryError",
        "-XX:+PerfDisableSharedMem", "-Djava.net.preferIPv4Stack=true",
        "-ea", "-da:net.openhft...",
        *(f"-javaagent:{p}" for p in jamm[:1]),
        *JPMS,
        "-Dio.netty.tryReflectionSetAccessible=true",
        # one pooled arena of 1 MiB chunks (8 KiB << 7) for the few client connections of a
        # lab, not one per core of 4 MiB each
        "-Dio.netty.allocator.numDirectArenas=1", "-Dio.netty.allocator.maxOrder=7",
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        f"-Dcassandra.storagedir={base}",
        f"-Dcassandra.logdir={base / 'logs'}",  # its own files (it logs to stdout)
        f"-Dcassandra.triggers_dir={base / 'triggers'}",
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.available_processors={cpus}",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=1000",
        "-Dcassandra.shutdown_announce_in_ms=200",
        "-Dcassandra.superuser_setup_delay_ms=1000",
        # every CQL login runs bcrypt over the role's hash: at the default 2^10 rounds that is
        # about 0.1 s of CPU, longer than the driver's 2 s connect timeout on a loaded machine,
        # and each retry adds another (a ring once stayed unreachable for minutes that way).
        # The lab's passwords are random and per lab: 2^4 rounds cost them nothing.
        f"-D{BCRYPT_ROUNDS_PROPERTY}={BCRYPT_ROUNDS}",
        f"-Dcassandra.system_auth.default_rf={rf}",
        f"-Dcassandra.system_distributed.default_rf={rf}",
        f"-Dcassandra.system_traces.default_rf={rf}",
        "-cp", ":".join([*map(str, jar_paths), str(conf)]),
        "org.apache.cassandra.service.CassandraDaemon",
    ]
