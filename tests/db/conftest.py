"""Work-order fixtures: a desk on the real PostgreSQL with a clock the test moves."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from callcenter.calendar import CalendarConfig, WorkCalendar
from callcenter.tickets.catalogue import Catalogue
from callcenter.tickets.deadlines import DeadlineConfig
from callcenter.tickets.finder import TicketFinder
from callcenter.tickets.service import TicketService
from callcenter.users.roles import Actor, Role
from tests.db.desk import SH, Clock
from tests.db.users_support import (  # noqa: F401 (the users tests' fixtures, on a database of their own)
    clocks,
    empty,
    hasher,
    users,
    users_db,
    users_url,
)


@pytest.fixture
async def departments(db) -> tuple[Actor, Actor]:
    suffix = uuid.uuid4().hex[:6]
    codes = (f"WATER-{suffix}", f"ROADS-{suffix}")
    async with db.begin() as conn:
        for code, name in zip(codes, ("供水公司", "交通局"), strict=True):
            await conn.execute(
                text("INSERT INTO departments (code, name, districts) VALUES (:c, :n, '[]')"),
                {"c": code, "n": name},
            )
    return (
        Actor("water-clerk", Role.DEPARTMENT, codes[0]),
        Actor("roads-clerk", Role.DEPARTMENT, codes[1]),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 9, 30, 10, 0, tzinfo=SH))


@pytest.fixture
def sessions(db) -> async_sessionmaker:
    return async_sessionmaker(db, expire_on_commit=False)


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar(CalendarConfig())


@pytest.fixture
def desk(sessions, calendar, clock) -> tuple[TicketService, Clock]:
    return TicketService(sessions, calendar, DeadlineConfig(), clock), clock


@pytest.fixture
def finder(sessions, calendar, clock) -> TicketFinder:
    return TicketFinder(sessions, calendar, DeadlineConfig(), Catalogue([], []), clock)
