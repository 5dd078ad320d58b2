"""Migration 0008 (op_id and its unique indexes) on a scratch database of its own,
dropped afterwards: upgrade from 0007 and downgrade work, the indexes are built
CONCURRENTLY (writes to call_events go on while the build waits), and a run
interrupted midway (columns added, an INVALID index left) is finished by the next."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from callcenter.db import migrate
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)

TABLES = ("call_events", "agent_state_log", "surveys", "queue_requests", "callback_tasks")
INDEXES = {f"uq_{table}_op_id" for table in TABLES}
BUILT, ON = "uq_call_events_op_id", "ON call_events (op_id)"  # as 0008 builds it
CALL = uuid.UUID("7f1c9a52-0f7e-4c0b-9d3e-000000000008")


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[str]:
    """A database at migration 0007 (made at head, then downgraded)."""
    url = make_url(database_url)
    name = f"{url.database}_op_ids"
    scratch_url = url.set(database=name).render_as_string(hide_password=False)
    admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:  # a run killed before its clean-up left one
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    made = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "postgres.sh"), scratch_url, stdout=asyncio.subprocess.DEVNULL
    )
    assert await made.wait() == 0, "could not create the scratch database"
    await asyncio.to_thread(migrate.downgrade, scratch_url, "0007")
    try:
        yield scratch_url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def columns(conn: AsyncConnection) -> set[str]:
    result = await conn.execute(
        text(
            "SELECT table_name FROM information_schema.columns "
            "WHERE column_name = 'op_id' AND table_schema = current_schema()"
        )
    )
    return set(result.scalars())


async def indexes(conn: AsyncConnection) -> dict[str, tuple[bool, bool]]:
    """Our op_id indexes: name → (unique, valid)."""
    result = await conn.execute(
        text(
            "SELECT c.relname, i.indisunique, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'uq_%_op_id'"
        )
    )
    return {name: (unique, valid) for name, unique, valid in result}


async def version(conn: AsyncConnection) -> str:
    return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()


async def test_upgrade_from_0007_and_downgrade(scratch: str) -> None:
    engine = create_async_engine(scratch)
    try:
        async with engine.connect() as conn:
            assert await version(conn) == "0007"
            assert await columns(conn) == set() and await indexes(conn) == {}
        await asyncio.to_thread(migrate.upgrade, scratch, "head")
        async with engine.connect() as conn:
            assert await version(conn) == "0008"
            assert await columns(conn) == set(TABLES)
            assert await indexes(conn) == {name: (True, True) for name in INDEXES}
        await asyncio.to_thread(migrate.downgrade, scratch, "0007")
        async with engine.connect() as conn:
            assert await version(conn) == "0007"
            assert await columns(conn) == set() and await indexes(conn) == {}
    finally:
        await engine.dispose()


async def test_an_interrupted_run_is_finished_and_writes_go_on_meanwhile(scratch: str) -> None:
    engine = create_async_engine(scratch)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:  # as a run killed during its first build left it
            for table in TABLES:
                await conn.execute(text(f"ALTER TABLE {table} ADD COLUMN op_id uuid"))
            await conn.execute(
                text(
                    "INSERT INTO calls (id, channel_id, linkedid, channel_name, caller_number, "
                    "caller_name, dialled_number, started_at) "
                    "VALUES (:id, 'c-1', 'c-1', '', '', '', '12345', :now)"
                ),
                {"id": CALL, "now": now},
            )
        twice = uuid.uuid4()
        await insert_event(engine, "twice", twice)
        await insert_event(engine, "twice", twice)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            with pytest.raises(Exception, match="could not create unique index"):
                await conn.execute(text(f"CREATE UNIQUE INDEX CONCURRENTLY {BUILT} {ON}"))
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE call_events SET op_id = NULL"))
            assert await indexes(conn) == {"uq_call_events_op_id": (True, False)}  # INVALID

        # A writer in the middle of a transaction on call_events: the build waits for it.
        async with engine.connect() as writer:
            await writer.execute(
                text(
                    "INSERT INTO call_events (call_id, at, kind, detail) "
                    "VALUES (:c, :now, 'open', '{}')"
                ),
                {"c": CALL, "now": now},
            )
            upgrading = asyncio.create_task(asyncio.to_thread(migrate.upgrade, scratch, "head"))
            await until_waiting(engine, scratch)
            # Meanwhile another writer is not held: a plain CREATE INDEX (or DROP INDEX)
            # queued for its lock would keep this insert waiting past its lock_timeout.
            await insert_event(engine, "meanwhile", uuid.uuid4(), lock_timeout="5s")
            assert not upgrading.done()
            await writer.commit()
        await asyncio.wait_for(upgrading, 120)

        async with engine.connect() as conn:
            assert await version(conn) == "0008"
            assert await indexes(conn) == {name: (True, True) for name in INDEXES}
            kinds = await conn.execute(text("SELECT kind FROM call_events ORDER BY id"))
            assert list(kinds.scalars()) == ["twice", "twice", "open", "meanwhile"]
        await asyncio.to_thread(migrate.downgrade, scratch, "0007")
        async with engine.connect() as conn:
            assert await columns(conn) == set() and await indexes(conn) == {}
    finally:
        await engine.dispose()


async def insert_event(
    engine: AsyncEngine, kind: str, op_id: uuid.UUID, lock_timeout: str = "0"
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"SET LOCAL lock_timeout = '{lock_timeout}'"))
        await conn.execute(
            text(
                "INSERT INTO call_events (call_id, at, kind, detail, op_id) "
                "VALUES (:c, now(), :k, '{}', :op)"
            ),
            {"c": CALL, "k": kind, "op": op_id},
        )


async def until_waiting(engine: AsyncEngine, scratch: str) -> None:
    """Until a session on the scratch database waits for a lock (the migration,
    waiting for the open writer): checked every 20 ms, at most 60 s."""
    name = make_url(scratch).database
    async with asyncio.timeout(60):
        while True:
            async with engine.connect() as conn:
                waiting = await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE NOT l.granted AND a.datname = :db"
                    ),
                    {"db": name},
                )
                if waiting.scalar_one():
                    return
            await asyncio.sleep(0.02)
