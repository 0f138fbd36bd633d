"""An upload past the lab's file quota (issue 14) is refused with 507 and what to do; the bytes
it had written are dropped. The store is a stand-in: only the quota arithmetic runs here (the
real ring is in tests/integration/test_cassandra_files.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labkit.cassandra import upload
from labkit.cassandra.store import QuotaExceeded
from labkit.topology import CassandraSpec


class _Store:
    def __init__(self, stored: dict[str, int], quota: str) -> None:
        self.stored = stored
        self.layout = SimpleNamespace(topology=SimpleNamespace(cassandra=CassandraSpec(
            quota=quota)))

    def used_bytes(self, excluding: str = "") -> int:
        return sum(size for name, size in self.stored.items() if name != excluding)


def test_an_upload_within_the_room_left_is_taken():
    up = upload.start(_Store({"a.img": 600}, "1000"), "b.img")
    assert up.room == 400
    up.feed(b"x" * 400)


def test_an_upload_past_the_quota_is_refused_with_what_to_do():
    up = upload.start(_Store({"a.img": 600}, "1000"), "b.img")
    with pytest.raises(QuotaExceeded, match="400 bytes are left") as err:
        up.feed(b"x" * 401)
    assert err.value.status == 507 and "labkit files rm" in err.value.hint


def test_replacing_a_file_counts_the_room_its_old_copy_frees():
    assert upload.start(_Store({"a.img": 600}, "1000"), "a.img").room == 1000
