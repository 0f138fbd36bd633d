"""The file-upload checker of the chaos run (issue 18) tells a lost upload from one that sits on
one replica only: run against a store that lost one file and under-replicated another."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import httpx

from labkit.cassandra.chaos import FileUploads


def _store(files: dict[str, bytes], only_at_all: set[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[1]
        level = request.url.params.get("consistency")
        if request.method == "DELETE":
            return httpx.Response(200, json={"deleted": name})
        if name in files and (name not in only_at_all or level == "ALL"):
            return httpx.Response(200, content=files[name])
        return httpx.Response(404, json={"detail": f"no file {name}"})
    return httpx.MockTransport(answer)


def _uploads(files: dict[str, bytes], acked: dict[str, bytes], only_at_all: set[str]
             ) -> FileUploads:
    lab = SimpleNamespace(vip_url="http://lab.invalid", auth=lambda user="learner": (user, "pw"))
    w = FileUploads(lab)
    w.http = httpx.Client(base_url="http://lab.invalid/api/files",
                          transport=_store(files, only_at_all))
    w.acked = {n: hashlib.sha256(d).hexdigest() for n, d in acked.items()}
    return w


def test_every_upload_reads_back_and_nothing_is_reported():
    files = {"a.bin": b"a", "b.bin": b"b"}
    w = _uploads(files, files, set())
    assert w.verify(timeout=0.1) == [] and w.errors == []


def test_a_lost_upload_fails_the_check_and_an_under_replicated_one_is_named_apart():
    files = {"kept.bin": b"k", "one-replica.bin": b"o"}
    acked = {**files, "lost.bin": b"l"}
    w = _uploads(files, acked, {"one-replica.bin"})
    violations = w.verify(timeout=0.1)
    assert len(violations) == 1
    assert "1 of 3 acknowledged uploads do not read back: lost.bin" in violations[0]
    assert "at ALL HTTP 404" in violations[0]
    assert "read back only at ALL (e.g. one-replica.bin)" in w.errors[0][1]


def test_a_ring_that_does_not_answer_is_given_the_timeout_not_one_per_file():
    """Each read may wait its client timeout: with the deadline looked at only between passes,
    a hung ring cost 5 s per acknowledged file (a chaos run's final check hung for minutes)."""
    import time

    calls: list[str] = []

    def hung(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        time.sleep(0.05)
        raise httpx.ReadTimeout("no answer", request=request)

    lab = SimpleNamespace(vip_url="http://lab.invalid", auth=lambda user="learner": (user, "pw"))
    w = FileUploads(lab)
    w.http = httpx.Client(base_url="http://lab.invalid/api/files",
                          transport=httpx.MockTransport(hung))
    w.acked = {f"f{i}.bin": "0" * 64 for i in range(100)}
    violations = w.verify(timeout=0.2)
    assert "100 of 100 acknowledged uploads do not read back" in violations[0]
    assert len(calls) < 30, len(calls)  # 100 reads at the default level, then 100 at ALL: not
