"""Failed logins locked out per user name and per address, on a clock the test moves."""

from __future__ import annotations

from callcenter.users.throttle import LoginThrottle, Policy, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = Policy(max_failures=3, window=60.0, lockout=300.0)


def test_the_nth_failure_locks_the_key_until_the_lockout_passes():
    clock = Clock()
    throttle = Throttle(POLICY, clock)
    for _ in range(2):
        throttle.failed("alice")
        assert throttle.retry_after("alice") == 0
    throttle.failed("alice")
    assert throttle.retry_after("alice") == 300
    clock.now += 299.5
    assert throttle.retry_after("alice") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert throttle.retry_after("alice") == 0
    throttle.failed("alice")  # a fresh count after the lock
    assert throttle.retry_after("alice") == 0


def test_failures_older_than_the_window_are_forgotten():
    clock = Clock()
    throttle = Throttle(POLICY, clock)
    throttle.failed("alice")
    throttle.failed("alice")
    clock.now += 61
    throttle.failed("alice")
    assert throttle.retry_after("alice") == 0
    throttle.failed("alice")
    throttle.failed("alice")
    assert throttle.retry_after("alice") == 300


def test_a_good_login_clears_the_name_but_not_the_address():
    clock = Clock()
    logins = LoginThrottle(clock, user=POLICY, address=Policy(5, 60.0, 120.0))
    for _ in range(2):
        logins.failed("alice", "10.0.0.9")
    logins.succeeded("alice")
    logins.failed("alice", "10.0.0.9")
    logins.failed("alice", "10.0.0.9")
    assert logins.retry_after("alice", None) == 0  # the name counts from the good login on
    logins.failed("bob", "10.0.0.9")  # 5th failure from this address, whatever the name
    assert logins.retry_after("carol", "10.0.0.9") == 120
    assert logins.retry_after("carol", "10.0.0.10") == 0


def test_names_that_do_not_exist_lock_exactly_like_names_that_do():
    clock = Clock()
    logins = LoginThrottle(clock, user=POLICY)
    for name in ("alice", "no-such-user"):  # the throttle never asks which exists
        for _ in range(3):
            logins.failed(name, None)
    assert logins.retry_after("alice", None) == logins.retry_after("no-such-user", None) == 300


def test_the_table_stays_bounded_under_a_flood_of_names():
    throttle = Throttle(POLICY, Clock(), max_keys=100)
    for i in range(1000):
        throttle.failed(f"guess-{i}")
    assert len(throttle._entries) == 100
    for _ in range(3):
        throttle.failed("guess-999")
    assert throttle.retry_after("guess-999") == 300


def test_loopback_is_not_one_address_for_everyone_behind_a_local_proxy():
    logins = LoginThrottle(Clock(), user=POLICY, address=Policy(2, 60.0, 120.0))
    for i in range(5):
        logins.failed(f"guess-{i}", "127.0.0.1")
        logins.failed(f"guess-{i}", "::1")
    assert logins.retry_after("alice", "127.0.0.1") == 0
    for _ in range(3):  # names are still counted
        logins.failed("alice", "127.0.0.1")
    assert logins.retry_after("alice", "::1") == 300
