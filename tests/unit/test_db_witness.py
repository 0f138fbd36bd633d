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


def test_nobody_but_the_labs_user_may_write_the_witness_folder(tmp_path):
    """Issue 14: a world-writable witness folder let any local user force a promotion."""
    folder = witness._path(tmp_path, "mysql").parent
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # as an older labkit left it
    witness.claim(tmp_path, "mysql", "node1", 0)
    assert folder.stat().st_mode & 0o777 == 0o755
    witness.force(tmp_path, "postgres", "node1", epoch=3)
    assert folder.stat().st_mode & 0o022 == 0
