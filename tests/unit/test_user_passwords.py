"""Password hashes: argon2id off the event loop, old hashes upgraded, no name leaks."""

from __future__ import annotations

import asyncio
import threading

import pytest

from callcenter.users.passwords import (
    Argon2Hasher,
    LoginBusy,
    Passwords,
    Verdict,
    scrypt_hash,
)
from tests.hashing import CHEAP, Counting


def test_argon2id_hashes_verify_and_refuse():
    hasher = Argon2Hasher(**CHEAP)
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse") == Verdict(True, needs_rehash=False)
    assert hasher.verify(stored, "wrong horse") == Verdict(False)
    assert hasher.verify("not a hash", "correct horse") == Verdict(False)


def test_a_scrypt_hash_from_before_is_accepted_and_asks_for_a_rehash():
    old = scrypt_hash("correct horse", b"0123456789abcdef")
    hasher = Argon2Hasher(**CHEAP)
    assert hasher.verify(old, "correct horse") == Verdict(True, needs_rehash=True)
    assert hasher.verify(old, "wrong horse").ok is False
    assert hasher.verify("scrypt$!!$??", "correct horse").ok is False


def test_an_argon2_hash_with_weaker_parameters_asks_for_a_rehash():
    weak = Argon2Hasher(**CHEAP).hash("correct horse")
    today = Argon2Hasher()
    assert today.verify(weak, "correct horse") == Verdict(True, needs_rehash=True)
    assert today.verify(today.hash("correct horse"), "correct horse").needs_rehash is False


async def test_an_unknown_user_costs_what_a_wrong_password_costs():
    counting = Counting(Argon2Hasher(**CHEAP))
    passwords = Passwords(counting)
    stored = await passwords.hash("correct horse")
    counting.hashes = counting.verifies = 0

    before = counting.verifies
    assert (await passwords.check(stored, "wrong horse")).ok is False
    known = counting.verifies - before
    before = counting.verifies
    assert (await passwords.check(None, "wrong horse")).ok is False
    unknown = counting.verifies - before
    assert known == unknown == 1
    # The dummy hash was made once (by the first check), not once per unknown name.
    for _ in range(3):
        await passwords.check(None, "another")
    assert counting.hashes == 1
    passwords.close()


async def test_hashing_runs_in_worker_threads_not_on_the_event_loop():
    counting = Counting(Argon2Hasher(**CHEAP))
    passwords = Passwords(counting, workers=2)
    stored = await passwords.hash("correct horse")
    await asyncio.gather(*(passwords.check(stored, "correct horse") for _ in range(4)))
    assert threading.get_ident() not in counting.threads
    assert len(counting.threads) <= 2  # its own small pool, not every thread there is
    passwords.close()


async def test_a_login_flood_is_refused_beyond_the_queue_instead_of_piling_up():
    release = threading.Event()

    class Stuck(Counting):
        def verify(self, stored: str, password: str) -> Verdict:
            release.wait(10)
            return super().verify(stored, password)

    passwords = Passwords(Stuck(Argon2Hasher(**CHEAP)), workers=1, max_waiting=2)
    stored = await passwords.hash("correct horse")
    waiting = [asyncio.create_task(passwords.check(stored, "x")) for _ in range(2)]
    while passwords.queued < 2:  # noqa: ASYNC110 (each loop turn lets the logins queue)
        await asyncio.sleep(0)
    with pytest.raises(LoginBusy):
        await passwords.check(stored, "x")
    release.set()
    assert [v.ok for v in await asyncio.gather(*waiting)] == [False, False]
    passwords.close()
