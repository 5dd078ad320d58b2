"""The limiter behind the citizens' lookups: counts, locks, slides, forgets, stays bounded."""

from __future__ import annotations

import pytest

from callcenter.ratelimit import Guard, Limiter, Policy, RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


FIVE_IN_TEN_MINUTES = Policy(limit=5, per_seconds=600, lock_seconds=900)


def test_the_event_that_reaches_the_limit_locks_the_key_for_the_lock_time():
    clock = Clock()
    limiter = Limiter(FIVE_IN_TEN_MINUTES, clock, max_keys=100)
    for _ in range(4):
        assert limiter.wait("code") == 0
        limiter.hit("code")
    assert limiter.wait("code") == 0
    limiter.hit("code")  # the fifth
    assert limiter.wait("code") == 900
    clock.advance(899)
    assert limiter.wait("code") == pytest.approx(1)
    assert limiter.wait("other") == 0  # keys are apart
    clock.advance(1)
    assert limiter.wait("code") == 0


def test_a_right_attempt_then_limit_wrong_ones_moments_apart_lock_at_the_limit():
    clock = Clock()
    limiter = Limiter(Policy(limit=3, per_seconds=600, lock_seconds=3), clock, max_keys=10)
    limiter.hit("code")
    limiter.refund("code")
    for _ in range(3):
        clock.advance(0.05)
        assert limiter.wait("code") == 0
        limiter.hit("code")
    assert limiter.wait("code") == 3


def test_a_slow_trickle_below_the_rate_is_never_locked():
    clock = Clock()
    limiter = Limiter(FIVE_IN_TEN_MINUTES, clock, max_keys=100)
    for _ in range(50):  # four in any ten minutes
        limiter.hit("code")
        assert limiter.wait("code") == 0
        clock.advance(151)


def test_the_limit_counts_within_the_window_not_only_in_a_burst():
    clock = Clock()
    limiter = Limiter(FIVE_IN_TEN_MINUTES, clock, max_keys=100)
    for _ in range(4):
        limiter.hit("code")
        clock.advance(100)  # five within 400 s, spread out
    limiter.hit("code")
    assert limiter.wait("code") == 900


def test_a_refund_takes_back_one_event_but_never_a_lock():
    clock = Clock()
    limiter = Limiter(Policy(limit=3, per_seconds=600, lock_seconds=60), clock, max_keys=10)
    for _ in range(10):  # right every time: never locked
        limiter.hit("code")
        limiter.refund("code")
    assert limiter.wait("code") == 0
    for _ in range(3):
        limiter.hit("code")
    limiter.refund("code")
    assert limiter.wait("code") == 60


def test_drained_keys_are_forgotten():
    clock = Clock()
    limiter = Limiter(FIVE_IN_TEN_MINUTES, clock, max_keys=1000)
    for i in range(500):
        limiter.hit(f"address-{i}")
    assert len(limiter) == 500
    clock.advance(1200)  # counted events slide out of the window
    limiter.wait("anyone")
    assert len(limiter) == 0


def test_a_full_table_refuses_newcomers_and_keeps_every_lock():
    clock = Clock()
    limiter = Limiter(Policy(limit=1, per_seconds=60, lock_seconds=300), clock, max_keys=3)
    limiter.hit("victim")  # locked for 300 s
    limiter.hit("a")
    limiter.hit("b")
    assert limiter.wait("c") == 300  # full of live keys: the attacker's next address waits
    assert limiter.wait("victim") == 300  # and the lock was not pushed out
    limiter.hit("c")  # a caller that did not ask first still cannot grow it
    assert len(limiter) == 3
    clock.advance(300)
    assert limiter.wait("c") == 0 and len(limiter) == 0


def test_an_attacker_with_endless_addresses_never_grows_it():
    clock = Clock()
    limiter = Limiter(FIVE_IN_TEN_MINUTES, clock, max_keys=50)
    for i in range(10_000):
        if limiter.wait(f"10.0.{i // 256}.{i % 256}") == 0:
            limiter.hit(f"10.0.{i // 256}.{i % 256}")
        clock.advance(0.01)
    assert len(limiter) == 50


def guard(clock: Clock) -> Guard:
    return Guard(
        tries=Policy(limit=10, per_seconds=60, lock_seconds=60),
        client_failures=Policy(limit=6, per_seconds=600, lock_seconds=900),
        target_failures=Policy(limit=3, per_seconds=600, lock_seconds=120),
        max_keys=100,
        clock=clock,
    )


def test_failures_lock_the_target_for_everyone_even_for_the_right_answer():
    clock = Clock()
    g = guard(clock)
    for address in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):  # one wrong guess from each
        assert g.attempt(address, "123456782") == 0
    assert g.attempt("4.4.4.4", "123456782") == 120  # the owner too, until it passes
    assert g.attempt("4.4.4.4", "987654321") == 0  # other codes are not locked
    clock.advance(120)
    assert g.attempt("4.4.4.4", "123456782") == 0


def test_failures_lock_the_client_across_targets():
    clock = Clock()
    g = guard(clock)
    for i in range(6):
        assert g.attempt("1.1.1.1", f"code{i}") == 0
    assert g.attempt("1.1.1.1", "code9") == 900
    assert g.attempt("2.2.2.2", "code9") == 0


def test_successes_are_not_failures_but_still_count_as_tries():
    clock = Clock()
    g = guard(clock)
    for _ in range(10):
        assert g.attempt("1.1.1.1", "123456782") == 0
        g.succeeded("1.1.1.1", "123456782")
    assert g.attempt("1.1.1.1", "123456782") == 60  # the rate, not a lock of the code
    assert g.attempt("2.2.2.2", "123456782") == 0


def test_attempts_in_flight_together_cannot_outrun_the_count():
    clock = Clock()
    g = guard(clock)
    # A thousand requests checked before any answer comes back.
    allowed = sum(g.attempt(f"10.0.0.{i % 250}", "123456782") == 0 for i in range(1000))
    assert allowed == 3


def test_a_refused_attempt_does_not_prolong_the_lock():
    clock = Clock()
    g = guard(clock)
    for _ in range(3):
        g.attempt("1.1.1.1", "123456782")
    for _ in range(100):
        clock.advance(1)
        g.attempt("1.1.1.1", "123456782")
    clock.advance(20)
    assert g.attempt("5.5.5.5", "123456782") == 0


def test_a_malformed_target_counts_only_against_the_client():
    clock = Clock()
    g = guard(clock)
    for _ in range(6):
        assert g.attempt("1.1.1.1", None) == 0
    assert g.attempt("1.1.1.1", None) == 900
    assert g.tracked() == 2  # the client's tries and failures, no target


def test_retry_after_is_whole_seconds_and_at_least_one():
    assert RateLimited("x", 0.2).retry_after == 1
    assert RateLimited("x", 119.01).retry_after == 120


@pytest.mark.parametrize("bad", [(0, 60, 60), (5, 0, 60), (5, 60, 0)])
def test_a_policy_must_be_positive(bad):
    with pytest.raises(ValueError):
        Policy(*bad)
