"""The witness decides, under one lock, between a standby's promotion and an active going alone."""

from __future__ import annotations

from labkit.db import witness


def test_first_claim_starts_epoch_one(tmp_path):
    term = witness.claim(tmp_path, "mysql", "node1", 0, alone=True)
    assert term is not None and (term.epoch, term.active, term.alone) == (1, "node1", True)
    assert witness.read(tmp_path, "mysql") == term


def test_a_claim_for_an_old_epoch_is_refused(tmp_path):
    witness.claim(tmp_path, "mysql", "node1", 0)
    witness.claim(tmp_path, "mysql", "node2", 1)
    assert witness.claim(tmp_path, "mysql", "node1", 1) is None
    assert witness.read(tmp_path, "mysql").active == "node2"


def test_no_promotion_while_the_active_goes_on_alone(tmp_path):
    witness.claim(tmp_path, "mysql", "node1", 0)
    assert witness.set_alone(tmp_path, "mysql", "node1", 1, True)
    assert witness.claim(tmp_path, "mysql", "node2", 1) is None
    assert witness.set_alone(tmp_path, "mysql", "node1", 1, False)
    assert witness.claim(tmp_path, "mysql", "node2", 1).active == "node2"


def test_a_replaced_active_cannot_go_alone(tmp_path):
    witness.claim(tmp_path, "mysql", "node1", 0)
    witness.claim(tmp_path, "mysql", "node2", 1)
    assert not witness.set_alone(tmp_path, "mysql", "node1", 1, True)
    assert not witness.read(tmp_path, "mysql").alone


def test_tiers_are_independent(tmp_path):
    witness.claim(tmp_path, "mysql", "node1", 0)
    assert witness.read(tmp_path, "postgres") is None
