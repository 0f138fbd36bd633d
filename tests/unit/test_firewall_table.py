"""Two labs named "pytest" from two LABKIT_HOMEs run side by side (two test sessions); the
kernel's nftables tables are one per machine, so each lab's isolation lives in its own table and
one lab's `down` cannot delete the other's rules (a test once saw its isolated node answer)."""

from __future__ import annotations

import re

from labkit.backends.local import firewall


def test_two_labs_of_one_name_get_two_tables_of_plain_identifier_characters():
    a, b = firewall._table("pytest", "127.0.2"), firewall._table("pytest", "127.0.3")
    assert a != b
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", t) for t in (a, b))
    assert firewall._table("my-lab", "127.0.2") != firewall._table("my_lab", "127.0.3")
