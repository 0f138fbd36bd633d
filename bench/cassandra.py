"""Benchmarks of the Cassandra file store: node start, resident memory, 20 MB through the VIP."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time

from bench.figures import Figure, percentile
from labkit import Cluster
from labkit.cassandra import config

STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def _when(line: str) -> float:
    found = STAMP.search(line)
    assert found, line
    return dt.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _start_seconds(lab: Cluster, node: str) -> float | None:
    """JVM start to CQL answering, from the node's first start in its log."""
    lines = (lab.layout.log_dir(node) / "cassandra.log").read_text(errors="replace").splitlines()
    begin = next((_when(x) for x in lines if "Configuration location" in x), None)
    ready = next((_when(x) for x in lines if "Starting listening for CQL" in x), None)
    return None if begin is None or ready is None else ready - begin


def cassandra(lab: Cluster, runs: int = 5) -> list[Figure]:
    ring = config.ring_nodes(lab.layout)
    if not ring:
        return []
    figures = []
    for node in ring:
        figures.append(Figure(f"cassandra_start_{node}", _start_seconds(lab, node), "s",
                              "first start of the lab: JVM start to CQL answering (its log); "
                              "node2 starts once node1 answers"))
    rss = lab.backend.resources()
    for node in ring:
        value = rss.get(node, {}).get("cassandra")
        figures.append(Figure(f"cassandra_rss_{node}", value / 2**20 if value else None, "MiB",
                              "resident memory of the node's Cassandra JVM at rest"))
    image = os.urandom(20 * 1024 * 1024)
    puts, gets = [], []
    for i in range(runs):
        t0 = time.monotonic()
        lab.files.put(image, name=f"bench-{i}.img", progress=False)
        puts.append(time.monotonic() - t0)
        t0 = time.monotonic()
        got = lab.files.get(f"bench-{i}.img", f"/tmp/labkit-bench-{os.getpid()}.img",
                            progress=False)
        gets.append(time.monotonic() - t0)
        assert got["sha256"] == hashlib.sha256(image).hexdigest()
        lab.files.delete(f"bench-{i}.img")
    os.unlink(f"/tmp/labkit-bench-{os.getpid()}.img")
    how = f"{runs} runs of a 20 MiB file through the VIP (labkit files client, streamed)"
    figures += [Figure("file_put_20mb_p50", percentile(puts, 50), "s", how),
                Figure("file_get_20mb_p50", percentile(gets, 50), "s", how + ", SHA-256 checked")]
    return figures


BENCHMARKS = [cassandra]
