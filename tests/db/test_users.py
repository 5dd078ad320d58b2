"""The user service on the real PostgreSQL: logins that neither leak nor stall,
lockout, and users managed (disable, passwd, revoke, remove, seats)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from callcenter.users.errors import (
    NoSeat,
    TooManyAttempts,
    Unauthorized,
    UserConflict,
    UserError,
    UserNotFound,
)
from callcenter.users.passwords import Argon2Hasher, Passwords, Verdict, scrypt_hash
from callcenter.users.roles import Role
from callcenter.users.service import UserService
from callcenter.users.throttle import ADDRESS_POLICY, USER_POLICY, LoginThrottle
from tests.db.users_support import PASSWORD


async def test_an_unknown_user_costs_the_same_hash_runs_as_a_wrong_password(users, hasher):
    await users.add("alice", Role.AGENT, PASSWORD)
    await users.token("alice", PASSWORD)  # the service's first login (it makes its dummy hash)
    counts = []
    for name in ("alice", "nobody-here", "alice", "nobody-else"):
        before = hasher.hashes + hasher.verifies
        with pytest.raises(Unauthorized, match="wrong user name or password"):
            await users.token(name, "not the password", "10.1.1.1")
        counts.append(hasher.hashes + hasher.verifies - before)
    assert counts == [1, 1, 1, 1]
    assert threading.get_ident() not in hasher.threads  # never on the event loop


async def test_an_old_scrypt_hash_still_logs_in_and_is_rehashed_with_argon2id(users, empty):
    await users.add("old-timer", Role.SUPERVISOR, "placeholder-password")
    async with empty.begin() as conn:
        await conn.execute(
            text("UPDATE users SET password_hash = :h WHERE name = 'old-timer'"),
            {"h": scrypt_hash(PASSWORD, b"0123456789abcdef")},
        )
    await users.actor(await users.token("old-timer", PASSWORD))
    async with empty.connect() as conn:
        stored = await conn.scalar(text("SELECT password_hash FROM users WHERE name='old-timer'"))
    assert stored.startswith("$argon2id$")
    await users.token("old-timer", PASSWORD)  # the new hash works
    with pytest.raises(Unauthorized):
        await users.token("old-timer", "wrong password")


async def test_an_argon2_hash_with_outdated_parameters_is_rehashed(empty, users, clocks):
    await users.add("carol", Role.AUDITOR, PASSWORD)  # cheap test parameters
    stronger = UserService(
        users.sessions,
        Passwords(Argon2Hasher(time_cost=2, memory_cost=256, parallelism=1)),
        LoginThrottle(clocks.monotonic),
        clock=clocks.wall,
    )
    await stronger.token("carol", PASSWORD)
    stronger.close()
    async with empty.connect() as conn:
        stored = await conn.scalar(text("SELECT password_hash FROM users WHERE name='carol'"))
    assert "m=256,t=2,p=1" in stored


async def test_a_locked_out_user_is_refused_even_with_the_right_password(users, clocks):
    await users.add("dave", Role.AGENT, PASSWORD)
    for _ in range(USER_POLICY.limit):
        with pytest.raises(Unauthorized):
            await users.token("dave", "guess", "10.2.2.2")
    with pytest.raises(TooManyAttempts) as locked:
        await users.token("dave", PASSWORD, "10.3.3.3")  # another address, right password
    assert locked.value.retry_after == USER_POLICY.lock_seconds
    clocks.advance(USER_POLICY.lock_seconds - 1)
    with pytest.raises(TooManyAttempts):
        await users.token("dave", PASSWORD, "10.3.3.3")
    clocks.advance(1)
    await users.actor(await users.token("dave", PASSWORD, "10.3.3.3"))


async def test_a_name_that_does_not_exist_is_locked_out_the_same_way(users):
    await users.add("erin", Role.AGENT, PASSWORD)
    refusals = {}
    for name in ("erin", "no-such-erin"):
        for _ in range(USER_POLICY.limit):
            with pytest.raises(Unauthorized):
                await users.token(name, "guess")
        with pytest.raises(TooManyAttempts) as locked:
            await users.token(name, "guess")
        refusals[name] = (type(locked.value), str(locked.value), locked.value.retry_after)
    assert refusals["erin"] == refusals["no-such-erin"]


async def test_concurrent_guesses_cannot_outrun_the_lockout(users):
    await users.add("frank", Role.AGENT, PASSWORD)
    results = await asyncio.gather(
        *(users.token("frank", f"guess-{i}") for i in range(20)), return_exceptions=True
    )
    kinds = [type(r) for r in results]
    assert kinds.count(Unauthorized) == USER_POLICY.limit
    assert kinds.count(TooManyAttempts) == 20 - USER_POLICY.limit


async def test_concurrent_guesses_at_many_names_cannot_outrun_the_address_lockout(users):
    """A sprayer tries one password on many names at once from one address: each
    name is fresh, so only the address's count can stop it, and it must count
    the guesses still hashing."""
    tries = ADDRESS_POLICY.limit + 10
    results = await asyncio.gather(
        *(users.token(f"spray-{i}", "Summer2026!", "10.4.4.4") for i in range(tries)),
        return_exceptions=True,
    )
    kinds = [type(r) for r in results]
    assert kinds.count(Unauthorized) == ADDRESS_POLICY.limit
    assert kinds.count(TooManyAttempts) == tries - ADDRESS_POLICY.limit


async def test_the_event_loop_keeps_ticking_while_logins_hash(empty, clocks):
    """Each hash is timed in ticks of a concurrent ticker: on the event loop it
    would see none (the loop is busy hashing); in a worker thread it sees many."""
    ticks = 0
    seen: list[int] = []

    class Watched(Argon2Hasher):  # today's parameters: tens of milliseconds a hash
        def verify(self, stored: str, password: str) -> Verdict:
            before = ticks
            verdict = super().verify(stored, password)
            seen.append(ticks - before)
            return verdict

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    service = UserService(
        async_sessionmaker(empty, expire_on_commit=False),
        Passwords(Watched()),
        LoginThrottle(clocks.monotonic),
        clock=clocks.wall,
    )
    await service.add("grace", Role.SUPERVISOR, PASSWORD)
    running = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(
            service.token("grace", PASSWORD),
            service.token("nobody", PASSWORD),
            service.token("grace", "wrong password"),
            return_exceptions=True,
        )
    finally:
        running.cancel()
        service.close()
    assert [type(r) for r in results] == [str, Unauthorized, Unauthorized]
    assert len(seen) == 3 and min(seen) > 0, seen


async def test_disabling_ends_the_tokens_at_once_and_refuses_logins(users):
    await users.add("heidi", Role.SUPERVISOR, PASSWORD)
    await users.add("boss", Role.ADMIN, PASSWORD)
    token = await users.token("heidi", PASSWORD)
    assert (await users.get("heidi")).tokens == 1
    view = await users.disable("heidi")
    assert view.disabled_at is not None and view.tokens == 0
    with pytest.raises(Unauthorized):
        await users.actor(token)
    with pytest.raises(Unauthorized, match="wrong user name or password"):
        await users.token("heidi", PASSWORD)
    await users.enable("heidi")
    await users.actor(await users.token("heidi", PASSWORD))


async def test_a_new_password_ends_every_other_token(users):
    await users.add("ivan", Role.AGENT, PASSWORD)
    mine, other = await users.token("ivan", PASSWORD), await users.token("ivan", PASSWORD)
    await users.passwd("ivan", "a brand new password", keep_token=mine)
    await users.actor(mine)
    with pytest.raises(Unauthorized):
        await users.actor(other)
    with pytest.raises(Unauthorized):
        await users.token("ivan", PASSWORD)
    await users.token("ivan", "a brand new password")
    with pytest.raises(UserError, match="password"):
        await users.passwd("ivan", "short")


async def test_revoke_ends_every_token_of_the_user_only(users):
    await users.add("judy", Role.AGENT, PASSWORD)
    await users.add("ken", Role.AGENT, PASSWORD)
    judy = [await users.token("judy", PASSWORD) for _ in range(2)]
    ken = await users.token("ken", PASSWORD)
    assert await users.revoke("judy") == 2
    for token in judy:
        with pytest.raises(Unauthorized):
            await users.actor(token)
    assert (await users.actor(ken)).name == "ken"
    with pytest.raises(UserNotFound):
        await users.revoke("nobody")


async def test_the_last_enabled_admin_can_be_neither_disabled_nor_removed(users):
    await users.add("root-a", Role.ADMIN, PASSWORD)
    await users.add("root-b", Role.ADMIN, PASSWORD)
    await users.disable("root-a")
    for refused in (users.disable, users.remove):
        with pytest.raises(UserConflict, match="last enabled admin"):
            await refused("root-b")
    await users.remove("root-a")  # a disabled admin may go
    await users.add("root-c", Role.ADMIN, PASSWORD)
    await users.remove("root-b")
    assert [(u.name, u.role) for u in await users.users()] == [("root-c", Role.ADMIN)]


async def test_two_admins_disabling_each_other_at_once_leave_one_enabled(users):
    await users.add("root-d", Role.ADMIN, PASSWORD)
    await users.add("root-e", Role.ADMIN, PASSWORD)
    results = await asyncio.gather(
        users.disable("root-d"), users.disable("root-e"), return_exceptions=True
    )
    assert sum(isinstance(r, UserConflict) for r in results) == 1
    assert sum(u.disabled_at is None for u in await users.users()) == 1


async def test_remove_takes_the_user_and_their_tokens(users, empty):
    await users.add("boss", Role.ADMIN, PASSWORD)
    await users.add("leo", Role.AGENT, PASSWORD)
    token = await users.token("leo", PASSWORD)
    await users.remove("leo")
    with pytest.raises(Unauthorized):
        await users.actor(token)
    with pytest.raises(UserNotFound):
        await users.get("leo")
    async with empty.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM api_tokens")) == 0


async def test_supervisors_carry_a_seat_from_the_roster(users):
    roster = {"1001", "1002"}
    await users.add("mallory", Role.SUPERVISOR, PASSWORD, seat="1001", seats=roster)
    assert await users.seat_of("mallory") == "1001"
    assert (await users.set_seat("mallory", "1002", roster)).seat == "1002"
    with pytest.raises(UserError, match="seat: no agent '9999' in the roster"):
        await users.set_seat("mallory", "9999", roster)
    await users.add("nina", Role.AGENT, PASSWORD)
    with pytest.raises(UserError, match="seat: only admin, supervisor users have one"):
        await users.set_seat("nina", "1001", roster)
    await users.set_seat("mallory", None)
    with pytest.raises(NoSeat, match="mallory has no seat"):
        await users.seat_of("mallory")


async def test_a_user_removed_while_their_login_hashes_gets_no_token(users, hasher):
    await users.add("boss", Role.ADMIN, PASSWORD)
    await users.add("olga", Role.AGENT, PASSWORD)
    await users.token("olga", PASSWORD)  # the dummy hash is made
    started, release = threading.Event(), threading.Event()
    verify = hasher.verify

    def held(stored: str, password: str) -> Verdict:
        started.set()
        release.wait(10)
        return verify(stored, password)

    hasher.verify = held
    login = asyncio.create_task(users.token("olga", PASSWORD))
    await asyncio.to_thread(started.wait, 10)
    await users.remove("olga")
    release.set()
    with pytest.raises(Unauthorized, match="wrong user name or password"):
        await login
