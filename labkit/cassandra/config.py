"""One Cassandra node's files: cassandra.yaml, the JVM's arguments, logging, its rack.

Sized for a laptop: a 128 MiB heap, C1-only JIT, serial GC, small caches and thread pools, JMX off
(two JVMs on one host would fight over port 7199) and every directory under the node's own run
directory. The ring starts fast: every node is a seed with a fixed token, so no node bootstraps
or waits for gossip to settle. Settings follow Cassandra 5.0's cassandra.yaml and
jvm17-server.options.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from labkit.cassandra import jars
from labkit.layout import Layout

HEAP = "128M"
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

LOGBACK = """<configuration>
  <!-- Rendered by labkit: everything to stdout, which the node's supervisor writes to
       log/cassandra.log. -->
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra.net.OutboundConnection" level="WARN"/>
  <logger name="org.apache.cassandra.utils.NoSpamLogger" level="WARN"/>
  <root level="INFO"><appender-ref ref="STDOUT"/></root>
</configuration>
"""


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


def render(layout: Layout, node: str) -> Path:
    """Write the node's conf/ and return the file of java arguments the launcher runs."""
    base = home(layout, node)
    conf = base / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "cassandra.yaml").write_text(
        f"# Rendered by labkit for {node}; edits are overwritten by `labkit up`.\n"
        + yaml.safe_dump(settings(layout, node, base), sort_keys=False))
    (conf / "cassandra-rackdc.properties").write_text(f"dc={DC}\nrack={RACK}\n")
    (conf / "logback.xml").write_text(LOGBACK)
    args = base / "java.json"
    args.write_text(json.dumps(java_command(layout, node, base), indent=1))
    return args


def settings(layout: Layout, node: str, base: Path) -> dict[str, Any]:
    addr, ports = layout.address(node), layout.ports
    seeds = ",".join(f"{layout.address(n)}:{ports.cassandra_storage}" for n in ring_nodes(layout))
    return {
        "cluster_name": f"labkit-{layout.lab}",
        "num_tokens": 1,
        "initial_token": str(token(layout, node)),
        "auto_bootstrap": False,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "seed_provider": [{"class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                           "parameters": [{"seeds": seeds}]}],
        "listen_address": addr,
        "rpc_address": addr,
        "storage_port": ports.cassandra_storage,
        "native_transport_port": ports.cassandra_cql,
        "start_native_transport": True,
        # the rack-aware snitch reads from the coordinator's own replica first: reads at ONE
        # pinned to a node show that node's copy; the dynamic snitch would reorder them
        "endpoint_snitch": "GossipingPropertyFileSnitch",
        "dynamic_snitch": False,
        "data_file_directories": [str(base / "data")],
        "commitlog_directory": str(base / "commitlog"),
        "saved_caches_directory": str(base / "saved_caches"),
        "hints_directory": str(base / "hints"),
        "cdc_raw_directory": str(base / "cdc_raw"),
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "commitlog_segment_size": "8MiB",
        "commitlog_total_space": "64MiB",
        "authenticator": "PasswordAuthenticator",
        "authorizer": "AllowAllAuthorizer",
        "role_manager": "CassandraRoleManager",
        # logins and role checks read one replica: the default (QUORUM) locks everyone out
        # while a node is down
        "auth_read_consistency_level": "LOCAL_ONE",
        "auth_write_consistency_level": "ONE",
        "credentials_validity": "60000ms",
        "roles_validity": "60000ms",
        # a crashed peer is convicted after ~10 s of silence instead of ~18 s
        "phi_convict_threshold": 5,
        "read_request_timeout": "2000ms",
        "range_request_timeout": "4000ms",
        "write_request_timeout": "2000ms",
        "request_timeout": "4000ms",
        "hinted_handoff_enabled": True,
        "max_hint_window": "3h",
        "hinted_handoff_throttle": "16MiB",
        "hints_flush_period": "2000ms",
        "concurrent_reads": 4,
        "concurrent_writes": 8,
        "concurrent_counter_writes": 2,
        "concurrent_materialized_view_writes": 2,
        "concurrent_compactors": 1,
        "memtable_flush_writers": 1,
        "native_transport_max_threads": 16,
        # blobs waiting in the CQL queue live on the heap: past this, clients wait their turn
        "native_transport_max_request_data_in_flight": "6MiB",
        "native_transport_max_request_data_in_flight_per_ip": "3MiB",
        # blob bytes wait for their flush off the heap (16 MiB, flushed at half): the small
        # heap keeps its room for requests in flight
        "memtable_allocation_type": "offheap_buffers",
        "memtable_heap_space": "16MiB",
        "memtable_offheap_space": "16MiB",
        "key_cache_size": "4MiB",
        "counter_cache_size": "0MiB",
        "prepared_statements_cache_size": "4MiB",
        "file_cache_size": "8MiB",
        "networking_cache_size": "4MiB",
        "disk_access_mode": "standard",
        "auto_snapshot": False,
        "cdc_enabled": False,
    }


def java_command(layout: Layout, node: str, base: Path) -> list[str]:
    jar_paths = jars.classpath()
    jamm = [p for p in jar_paths if p.name.startswith("jamm-")]
    conf = base / "conf"
    rf = str(replication_factor(layout))
    cpus = str(min(2, os.cpu_count() or 1))
    return [
        jars.java_binary(),
        f"-Xms{HEAP}", f"-Xmx{HEAP}", "-Xss256k", "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=48m",
        "-XX:MaxDirectMemorySize=128m", "-XX:+ExitOnOutOfMemoryError",
        "-XX:+PerfDisableSharedMem", "-Djava.net.preferIPv4Stack=true",
        "-ea", "-da:net.openhft...",
        *(f"-javaagent:{p}" for p in jamm[:1]),
        *JPMS,
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-Dio.netty.allocator.numDirectArenas=2",
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        f"-Dcassandra.storagedir={base}",
        f"-Dcassandra.logdir={layout.log_dir(node)}",
        f"-Dcassandra.triggers_dir={base / 'triggers'}",
        "-Dcassandra-foreground=yes",
        f"-Dcassandra.available_processors={cpus}",
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-Dcassandra.ring_delay_ms=1000",
        "-Dcassandra.shutdown_announce_in_ms=200",
        "-Dcassandra.superuser_setup_delay_ms=1000",
        "-Dcassandra.auth_bcrypt_gensalt_log=4",
        f"-Dcassandra.system_auth.default_rf={rf}",
        f"-Dcassandra.system_distributed.default_rf={rf}",
        f"-Dcassandra.system_traces.default_rf={rf}",
        "-cp", ":".join([str(conf), *map(str, jar_paths)]),
        "org.apache.cassandra.service.CassandraDaemon",
    ]
