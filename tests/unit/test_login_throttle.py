"""Failed logins locked out per user name and per address, on a clock the test moves."""

from __future__ import annotations

from callcenter.users.throttle import LoginThrottle, Policy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = Policy(limit=3, per_seconds=60.0, lock_seconds=300.0)


def throttle(clock: Clock, **kwargs: object) -> LoginThrottle:
    return LoginThrottle(clock, user=POLICY, address=POLICY, **kwargs)  # type: ignore[arg-type]


def test_the_nth_failure_locks_the_key_until_the_lockout_passes():
    clock = Clock()
    logins = throttle(clock)
    for _ in range(2):
        assert logins.attempt("alice", None) == 0  # counted as a failure: never succeeded
        assert logins.retry_after("alice", None) == 0
    logins.attempt("alice", None)
    assert logins.retry_after("alice", None) == 300
    clock.now += 299.5
    assert logins.retry_after("alice", None) == 1  # whole seconds, rounded up
    assert logins.attempt("alice", None) == 1  # refused, and not counted
    clock.now += 0.5
    assert logins.retry_after("alice", None) == 0
    logins.attempt("alice", None)  # a fresh count after the lock
    assert logins.retry_after("alice", None) == 0


def test_failures_older_than_the_window_are_forgotten():
    clock = Clock()
    logins = throttle(clock)
    logins.attempt("alice", None)
    logins.attempt("alice", None)
    clock.now += 61
    logins.attempt("alice", None)
    assert logins.retry_after("alice", None) == 0
    logins.attempt("alice", None)
    logins.attempt("alice", None)
    assert logins.retry_after("alice", None) == 300


def test_a_good_login_clears_the_name_but_not_the_address():
    clock = Clock()
    logins = LoginThrottle(clock, user=POLICY, address=Policy(5, 60.0, 120.0))
    for _ in range(2):
        logins.attempt("alice", "10.0.0.9")
    logins.attempt("alice", "10.0.0.9")
    logins.succeeded("alice", "10.0.0.9")  # this one was right: no failure of the address
    logins.attempt("alice", "10.0.0.9")
    logins.attempt("alice", "10.0.0.9")
    assert logins.retry_after("alice", None) == 0  # the name counts from the good login on
    logins.attempt("bob", "10.0.0.9")  # 5th failure from this address, whatever the name
    assert logins.retry_after("carol", "10.0.0.9") == 120
    assert logins.retry_after("carol", "10.0.0.10") == 0


def test_names_that_do_not_exist_lock_exactly_like_names_that_do():
    clock = Clock()
    logins = LoginThrottle(clock, user=POLICY)
    for name in ("alice", "no-such-user"):  # the throttle never asks which exists
        for _ in range(3):
            logins.attempt(name, None)
    assert logins.retry_after("alice", None) == logins.retry_after("no-such-user", None) == 300


def test_guesses_in_flight_together_cannot_outrun_the_count():
    logins = LoginThrottle(Clock(), user=POLICY, address=Policy(5, 60.0, 120.0))
    # Many names from one address, all asked before any hash comes back.
    allowed = sum(logins.attempt(f"guess-{i}", "10.0.0.9") == 0 for i in range(100))
    assert allowed == 5


def test_the_table_stays_bounded_under_a_flood_of_names():
    logins = throttle(Clock(), max_keys=100)
    for i in range(1000):
        assert logins.attempt(f"guess-{i}", None) == 0  # a full table refuses no newcomer
    assert logins.tracked() == 100
    for _ in range(2):
        logins.attempt("guess-999", None)
    assert logins.retry_after("guess-999", None) == 300


def test_an_admins_reset_lifts_the_lock():
    logins = throttle(Clock())
    for _ in range(3):
        logins.attempt("alice", None)
    assert logins.retry_after("alice", None) == 300
    logins.reset("alice")
    assert logins.retry_after("alice", None) == 0


def test_loopback_is_not_one_address_for_everyone_behind_a_local_proxy():
    logins = LoginThrottle(Clock(), user=POLICY, address=Policy(2, 60.0, 120.0))
    for i in range(5):
        logins.attempt(f"guess-{i}", "127.0.0.1")
        logins.attempt(f"guess-{i}", "::1")
    assert logins.retry_after("alice", "127.0.0.1") == 0
    for _ in range(3):  # names are still counted
        logins.attempt("alice", "127.0.0.1")
    assert logins.retry_after("alice", "::1") == 300
