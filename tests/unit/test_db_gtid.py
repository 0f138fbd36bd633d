"""GTID position arithmetic used by the MySQL watcher and the re-seed."""

from __future__ import annotations

import pytest

from labkit.db.mysql_reseed import _dump_gtid
from labkit.db.mysql_watch import gtid_covers


@pytest.mark.parametrize(("position", "target", "covers"), [
    ("0-1-34", "0-1-34", True),
    ("0-2-40", "0-1-34", True),  # a later transaction of another server, same domain
    ("0-1-33", "0-1-34", False),
    ("", "", True),
    ("", "0-1-1", False),
    ("0-1-5,1-2-9", "0-1-5,1-2-10", False),
    ("0-1-5, 1-2-9", "1-2-9", True),
])
def test_gtid_covers(position, target, covers):
    assert gtid_covers(position, target) is covers


def test_dump_gtid_reads_the_position_comment():
    dump = "-- header\nCREATE TABLE t (a int);\n-- SET GLOBAL gtid_slave_pos='0-2-68';\n"
    assert _dump_gtid(dump) == "0-2-68"


def test_a_dump_without_gtid_is_an_error():
    with pytest.raises(RuntimeError, match="GTID"):
        _dump_gtid("-- nothing here\n")
