"""Users tests run on a database of their own: "the last enabled admin" is a fact
about the whole users table, which other suites fill with admins of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from callcenter.users.passwords import Argon2Hasher, Passwords
from callcenter.users.service import UserService
from callcenter.users.throttle import LoginThrottle
from tests.conftest import make_database
from tests.hashing import CHEAP, Counting

PASSWORD = "correct horse battery"


class Clocks:
    """The throttle's monotonic seconds and the tokens' wall clock, moved together."""

    def __init__(self) -> None:
        self.seconds = 10_000.0
        self.start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds - 10_000.0)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


@pytest.fixture(scope="module")
def users_url(database_url: str) -> str:
    url = make_url(database_url)
    own = url.set(database=f"{url.database}_users").render_as_string(hide_password=False)
    make_database(own)
    return own


@pytest.fixture(scope="module")
async def users_db(users_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(users_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def empty(users_db: AsyncEngine) -> AsyncEngine:
    """No user at all (this database is the users tests' alone)."""
    async with users_db.begin() as conn:
        await conn.execute(text("DELETE FROM users"))
    return users_db


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def hasher() -> Counting:
    return Counting(Argon2Hasher(**CHEAP))


@pytest.fixture
def users(empty: AsyncEngine, hasher: Counting, clocks: Clocks) -> Iterator[UserService]:
    service = UserService(
        async_sessionmaker(empty, expire_on_commit=False),
        Passwords(hasher),
        LoginThrottle(clocks.monotonic),
        clock=clocks.wall,
    )
    yield service
    service.close()
