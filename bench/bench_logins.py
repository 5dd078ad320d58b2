"""Logins: how many hash runs an unknown name costs against a wrong password, and
how long the event loop (the one that drives ARI) stalls while logins run.

A 1 ms ticker runs beside LOGINS concurrent logins (a third each: the right
password, a wrong one, a name that does not exist); the longest gap between its
ticks is the worst stall a live call would have felt. Hash runs are counted at
the lowest level (hashlib.scrypt, argon2's verify/hash), not timed. Usage:

    DATABASE_URL=postgresql+asyncpg://hotline:hotline@127.0.0.1:5432/hotline_test_users \\
        .venv/bin/python bench/bench_logins.py [LOGINS]
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import time
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import delete

from callcenter.db.engine import make_engine, make_sessionmaker
from callcenter.db.models import User
from callcenter.users.roles import Role
from callcenter.users.service import UserService

PASSWORD = "correct horse battery"
runs: Counter[str] = Counter()


def count(name: str, fn: Any) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        runs[name] += 1
        return fn(*args, **kwargs)

    return counted


def instrument() -> None:
    hashlib.scrypt = count("scrypt", hashlib.scrypt)  # type: ignore[assignment]
    with contextlib.suppress(ImportError):
        from argon2 import _password_hasher as argon2

        argon2.verify_secret = count("argon2 verify", argon2.verify_secret)  # type: ignore[attr-defined]
        argon2.hash_secret = count("argon2 hash", argon2.hash_secret)  # type: ignore[attr-defined]


def service(engine: Any) -> UserService:
    """The service as it runs, but with no lockout: the bench measures hashing."""
    try:
        from callcenter.users.throttle import LoginThrottle, Policy
    except ImportError:  # the code before throttling
        return UserService(make_sessionmaker(engine))
    try:
        never = Policy(limit=10**9, per_seconds=1.0, lock_seconds=1.0)
    except TypeError:  # the throttle before it shared the lookups' limiter
        never = Policy(max_failures=10**9, window=1.0, lockout=0.0)  # type: ignore[call-arg]
    throttle = LoginThrottle(time.monotonic, user=never, address=never)
    return UserService(make_sessionmaker(engine), throttle=throttle)


async def attempt(users: UserService, name: str, password: str) -> None:
    with contextlib.suppress(Exception):  # 401s are what a third of them should get
        await users.token(name, password)


async def main(logins: int) -> None:
    instrument()
    engine = make_engine(os.environ["DATABASE_URL"])
    users = service(engine)
    names = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(max(1, logins // 3))]
    for name in names:
        await users.add(name, Role.AGENT, PASSWORD)
    await attempt(users, names[0], PASSWORD)  # warm up (the new code makes its dummy hash here)

    for label, who, password in (
        ("known name, wrong password", names[0], "wrong password"),
        ("unknown name", f"nobody-{uuid.uuid4().hex[:8]}", "wrong password"),
    ):
        runs.clear()
        await attempt(users, who, password)
        print(f"{label:28} {dict(runs)}")

    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    # Once unmeasured: the database pool opens its connections (a warm service has them).
    await asyncio.gather(*(attempt(users, n, PASSWORD) for n in names))
    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(
        *(
            attempt(users, *[(n, PASSWORD), (n, "wrong"), (f"nobody-{i}", "wrong")][i % 3])
            for i, n in enumerate(names * 3)
        )
    )
    took = time.perf_counter() - started
    stop.set()
    await ticking
    logins = len(names) * 3
    print(
        f"{logins} concurrent logins in {took:.2f} s ({logins / took:.0f}/s); "
        f"event-loop stalls: longest {max(gaps) * 1000:.0f} ms, "
        f"99th percentile {sorted(gaps)[len(gaps) * 99 // 100] * 1000:.1f} ms"
    )
    async with engine.begin() as conn:
        await conn.execute(delete(User).where(User.name.in_(names)))
    close = getattr(users, "close", None)
    if close:
        close()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
