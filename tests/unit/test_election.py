"""VRRP election rules, step by step with a made-up clock (RFC 5798 §6.4)."""

from labkit.lb.election import Advert, Election, State


def pair(preempt=False):
    a = Election("node1", "127.0.9.11", 100, 1.0, preempt)
    b = Election("node2", "127.0.9.12", 90, 1.0, preempt)
    return a, b


def test_master_down_interval_follows_the_rfc():
    a, b = pair()
    assert a.skew_time == (256 - 100) / 256
    assert a.master_down_interval == 3 + a.skew_time
    # the lower priority waits longer, so the higher one wins a cold start
    assert b.master_down_interval > a.master_down_interval


def test_cold_start_higher_priority_becomes_master():
    a, b = pair()
    a.start(0)
    b.start(0)
    assert a.state is b.state is State.BACKUP
    assert not a.tick(3.0)
    assert a.tick(a.master_down_interval)  # timer fired: becomes master and adverts
    assert a.state is State.MASTER
    b.on_advert(a.master_down_interval, Advert("node1", a.address, 100))
    assert not b.tick(b.master_down_interval + 0.1)  # its timer was reset by the advert
    assert b.state is State.BACKUP


def test_backup_takes_over_when_adverts_stop():
    a, b = pair()
    b.start(0)
    b.on_advert(10.0, Advert("node1", a.address, 100))
    assert not b.tick(10.0 + b.master_down_interval - 0.01)
    assert b.tick(10.0 + b.master_down_interval)
    assert b.state is State.MASTER
    assert "master-down" in b.transitions[-1][2]


def test_priority_zero_advert_means_take_over_after_skew():
    _, b = pair()
    b.start(0)
    b.on_advert(5.0, Advert("node1", "127.0.9.11", 0))
    assert b.tick(5.0 + b.skew_time)
    assert b.state is State.MASTER


def test_master_steps_down_for_a_higher_priority():
    a, b = pair()
    b.start(0)
    b.tick(b.master_down_interval)
    assert b.state is State.MASTER
    b.on_advert(10, Advert("node1", a.address, 100))
    assert b.state is State.BACKUP


def test_equal_priority_higher_address_wins():
    x = Election("x", "127.0.9.11", 100, 1.0)
    x.start(0)
    x.tick(10)
    x.on_advert(11, Advert("y", "127.0.9.12", 100))
    assert x.state is State.BACKUP
    y = Election("y", "127.0.9.12", 100, 1.0)
    y.start(0)
    y.tick(10)
    y.on_advert(11, Advert("x", "127.0.9.11", 100))
    assert y.state is State.MASTER


def test_without_preemption_a_returning_higher_priority_stays_backup():
    a, _ = pair(preempt=False)
    a.start(0)
    for t in range(1, 20):  # node2 (priority 90) is master and adverts every second
        a.on_advert(float(t), Advert("node2", "127.0.9.12", 90))
        assert not a.tick(float(t))
    assert a.state is State.BACKUP


def test_with_preemption_the_higher_priority_takes_back_the_vip():
    a, _ = pair(preempt=True)
    a.start(0)
    for t in range(1, 5):
        a.on_advert(float(t), Advert("node2", "127.0.9.12", 90))
    assert a.tick(a.master_down_interval + 0.01)
    assert a.state is State.MASTER


def test_master_sends_adverts_on_its_interval():
    a, _ = pair()
    a.start(0)
    a.tick(a.master_down_interval)
    t0 = a.master_down_interval
    assert not a.tick(t0 + 0.5)
    assert a.tick(t0 + 1.0)
    assert a.next_deadline() == t0 + 2.0


def test_own_adverts_are_ignored():
    a, _ = pair()
    a.start(0)
    a.on_advert(1, Advert("node1", a.address, 100))
    assert a.master_down_at == a.master_down_interval
