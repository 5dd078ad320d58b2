"""The service's HTTP routes in this process, on the real PostgreSQL, with the
access log as the service wires it (or a writer a test breaks): route-level
behaviour without Asterisk. Tokens are handed out here; real sign-in is
tested with the live service."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.audit.access_log import (
    AccessLogUnavailable,
    AccessLogWriter,
    AccessWriter,
    Entry,
)
from callcenter.audit.search import AccessLogReader
from callcenter.config import Settings, TicketsConfig
from callcenter.tickets.finder import TicketFinder
from callcenter.tickets.service import TicketService
from callcenter.users.roles import Actor
from callcenter.web import access_log_routes, call_routes, desk_routes, ticket_routes
from callcenter.web.keys import (
    ACCESS_LOG,
    ACCESS_READER,
    FINDER,
    SERVICE_TOKEN,
    SESSIONS,
    SETTINGS,
    TICKETS,
    USERS,
)
from callcenter.web.problems import problem_middleware


class Tokens:
    """Stands in for the user service: a bearer token per actor."""

    def __init__(self) -> None:
        self.actors: dict[str, Actor] = {}

    def headers(self, who: Actor) -> dict[str, str]:
        token = secrets.token_urlsafe(16)
        self.actors[token] = who
        return {"Authorization": f"Bearer {token}"}

    async def actor(self, token: str) -> Actor:
        return self.actors[token]


class BrokenLog:
    """An access log that cannot be written (the database refuses, a disk is full, ...)."""

    def __init__(self) -> None:
        self.tried: list[Entry] = []

    async def record(self, entry: Entry) -> None:
        self.tried.append(entry)
        raise AccessLogUnavailable(
            "the access log cannot be written, so no personal data is sent: try again"
        )


@asynccontextmanager
async def running(
    sessions: async_sessionmaker[AsyncSession],
    desk: TicketService,
    finder: TicketFinder,
    *,
    export_max_rows: int = 100_000,
    writer: Callable[[async_sessionmaker[AsyncSession]], AccessWriter] = AccessLogWriter,
) -> AsyncIterator[tuple[TestClient, Tokens]]:
    app = web.Application(middlewares=[problem_middleware])
    tokens = Tokens()
    app[SETTINGS] = Settings(tickets=TicketsConfig(export_max_rows=export_max_rows))
    app[SERVICE_TOKEN] = secrets.token_urlsafe(32)
    app[USERS] = tokens  # type: ignore[assignment]
    app[SESSIONS] = sessions
    app[TICKETS] = desk
    app[FINDER] = finder
    app[ACCESS_LOG] = writer(sessions)
    app[ACCESS_READER] = AccessLogReader(sessions)
    for routes in (ticket_routes, desk_routes, call_routes, access_log_routes):
        routes.add_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, tokens
