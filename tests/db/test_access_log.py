"""The access log on the real PostgreSQL: rows as written, append-only even for
the service's own role (the table's owner), and found again by auditors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from callcenter.audit import access_log
from callcenter.audit.access_log import (
    AccessLogUnavailable,
    AccessLogWriter,
    Action,
    Entry,
    Reader,
    Subject,
)
from callcenter.audit.search import AccessLogReader, AccessQuery
from callcenter.users.roles import Role


@pytest.fixture
def writer(db) -> AccessLogWriter:
    return AccessLogWriter(async_sessionmaker(db, expire_on_commit=False))


@pytest.fixture
def log_reader(db) -> AccessLogReader:
    return AccessLogReader(async_sessionmaker(db, expire_on_commit=False))


def someone(role: Role = Role.AGENT, reason: str | None = None) -> Reader:
    return Reader(f"{role.value}-{uuid.uuid4().hex[:8]}", role, "10.1.2.3", reason)


async def test_a_read_is_written_with_who_what_where_and_why(db, writer):
    who = someone(Role.AUDITOR, "投诉复核")
    await writer.record(
        Entry(who, Subject.CALL, Action.SEARCH, None, {"caller": "13800001111", "ids": ["c1"]})
    )
    async with db.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM access_log WHERE actor = :a"), {"a": who.name})
        ).one()
    assert (row.role, row.client_addr, row.subject, row.action, row.reason) == (
        "auditor",
        "10.1.2.3",
        "call",
        "search",
        "投诉复核",
    )
    assert row.detail == {"caller": "13800001111", "ids": ["c1"]}
    assert abs(row.at - datetime.now(UTC)) < timedelta(minutes=1)


async def test_the_database_refuses_to_change_or_remove_logged_reads_even_for_its_owner(
    db, database_url, writer
):
    who = someone()
    await writer.record(Entry(who, Subject.TICKET, Action.READ, "t-1", {"ids": ["t-1"]}))
    async with db.connect() as conn:
        me = await conn.scalar(text("SELECT current_user"))
        owner = await conn.scalar(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'access_log'")
        )
    # The service's own role, which owns the table: no grant can be the reason it is refused.
    assert me == owner == make_url(database_url).username
    for statement in (
        "UPDATE access_log SET reason = 'covered up' WHERE actor = :a",
        "UPDATE access_log SET actor = 'someone-else' WHERE actor = :a",
        "DELETE FROM access_log WHERE actor = :a",
        "TRUNCATE access_log",
    ):
        with pytest.raises(DBAPIError) as refused:
            async with db.begin() as conn:
                await conn.execute(text(statement), {"a": who.name})
        assert getattr(refused.value.orig, "sqlstate", None) == "42501", statement
        assert "access_log is append-only" in str(refused.value)
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT subject_id, reason FROM access_log WHERE actor = :a"),
                {"a": who.name},
            )
        ).all()
    assert [tuple(r) for r in rows] == [("t-1", None)]


async def test_no_database_means_access_log_unavailable(unused_tcp_port):
    dead = create_async_engine(f"postgresql+asyncpg://x:y@127.0.0.1:{unused_tcp_port}/none")
    try:
        with pytest.raises(AccessLogUnavailable, match="no personal data is sent"):
            await AccessLogWriter(async_sessionmaker(dead)).record(
                Entry(someone(), Subject.TICKET, Action.READ, "t-1")
            )
    finally:
        await dead.dispose()


async def test_a_silent_database_means_access_log_unavailable_soon(monkeypatch):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(access_log, "WRITE_TIMEOUT_SECONDS", 0.3)
    engine = create_async_engine(f"postgresql+asyncpg://x:y@127.0.0.1:{port}/none")
    try:
        with pytest.raises(AccessLogUnavailable):
            await AccessLogWriter(async_sessionmaker(engine)).record(
                Entry(someone(), Subject.TICKET, Action.READ, "t-1")
            )
    finally:
        server.close()
        await engine.dispose()
        await server.wait_closed()


async def test_who_saw_a_ticket_finds_its_own_reads_and_the_lists_that_showed_it(
    writer, log_reader
):
    ticket = str(uuid.uuid4())
    other = str(uuid.uuid4())
    agent, auditor = someone(), someone(Role.AUDITOR, "抽查")
    await writer.record(Entry(agent, Subject.TICKET, Action.READ, ticket, {"ids": [ticket]}))
    await writer.record(
        Entry(agent, Subject.TICKET, Action.SEARCH, None, {"ids": [other, ticket], "unmasked": 2})
    )
    await writer.record(Entry(auditor, Subject.TICKET, Action.READ, other, {"ids": [other]}))

    found = await log_reader.page(AccessQuery(subject_id=ticket))
    assert found.total == 2
    assert [(r.actor, r.action) for r in found.rows] == [
        (agent.name, "search"),  # newest first
        (agent.name, "read"),
    ]
    mine = await log_reader.page(AccessQuery(actor=auditor.name))
    assert [(r.subject_id, r.reason) for r in mine.rows] == [(other, "抽查")]
    page = await log_reader.page(AccessQuery(actor=agent.name, per_page=1, page=2))
    assert page.total == 2 and [r.action for r in page.rows] == ["read"]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert (await log_reader.page(AccessQuery(actor=agent.name, since=later))).total == 0
    assert (await log_reader.page(AccessQuery(actor=agent.name, until=later))).total == 2
    assert (await log_reader.count(AccessQuery(actor=agent.name, action=Action.SEARCH))) == 1
    batches = [
        [r.action for r in batch]
        async for batch in log_reader.batches(AccessQuery(actor=agent.name), limit=10, batch=1)
    ]
    assert batches == [["search"], ["read"]]


async def test_a_row_the_database_refuses_leaves_no_personal_data_in_the_service_log(
    writer, caplog
):
    # PostgreSQL refuses a NUL in jsonb: the error names the statement's parameters.
    detail = {"filters": {"caller_phone": "13800002222", "caller_name": "王秘密"}, "x": "\x00"}
    with pytest.raises(AccessLogUnavailable):
        await writer.record(Entry(someone(), Subject.TICKET, Action.SEARCH, None, detail))
    [line] = [r.getMessage() for r in caplog.records if "access log not written" in r.getMessage()]
    assert "13800002222" not in line and "王秘密" not in line
    assert "search ticket" in line  # still says which read failed, and by whom
