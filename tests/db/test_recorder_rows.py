"""The call record writer on the real PostgreSQL: rows that belong to a call
land after it, and nothing is dropped while the database is unreachable,
dropping connections or silent, nor when the process dies meanwhile (the spool)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callcenter.calls import spool
from callcenter.calls.record_ops import AddEvent, CloseCall, InsertRow, OpenCall
from callcenter.calls.recorder import CallRecorder
from callcenter.db.models import Disposition, QueueRequest, Survey
from tests.dbproxy import DatabaseProxy, at_port


def free_tcp_port() -> int:
    """A port nothing listens on (PostgreSQL refuses to be there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_call(call_id: uuid.UUID) -> OpenCall:
    return OpenCall(
        call_id=call_id,
        channel_id=f"rec-test-{call_id}",
        linkedid=f"rec-test-{call_id}",
        channel_name="PJSIP/test",
        caller_number="13800000000",
        caller_name="",
        dialled_number="12345",
        started_at=datetime.now(UTC),
    )


async def count(db, table: str, call_id: uuid.UUID) -> int:
    async with db.connect() as conn:
        return (
            await conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE call_id = :c"), {"c": call_id}
            )
        ).scalar_one()


async def until_unhealthy(recorder: CallRecorder) -> None:
    """Until the writer has found the database away."""
    for _ in range(100):
        if not recorder.healthy:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the writer never noticed the database was away")


async def test_rows_of_a_call_wait_out_an_outage_and_land_after_the_call(db, database_url):
    unreachable = create_async_engine(at_port(database_url, free_tcp_port()))
    recorder = CallRecorder(unreachable)
    call_id = uuid.uuid4()
    async with running(recorder):
        recorder.submit(open_call(call_id))
        recorder.insert(
            QueueRequest,
            {
                "call_id": call_id,
                "queue": "general",
                "priority": 0,
                "skills": [],
                "flow": "12345",
                "node": "queue_general",
                "requested_at": datetime.now(UTC),
            },
        )
        recorder.insert(
            Survey,
            {
                "call_id": call_id,
                "score": 5,
                "flow": "survey",
                "node": "ask",
                "created_at": datetime.now(UTC),
            },
        )
        await until_unhealthy(recorder)  # the database is away: the rows wait
        assert await count(db, "queue_requests", call_id) == 0
        recorder.engine = db  # it comes back
        async with asyncio.timeout(30):
            await recorder.flush()
        assert recorder.healthy
        async with db.connect() as conn:
            assert (
                await conn.execute(text("SELECT count(*) FROM calls WHERE id = :c"), {"c": call_id})
            ).scalar_one() == 1
        assert await count(db, "queue_requests", call_id) == 1
        assert await count(db, "surveys", call_id) == 1
    await unreachable.dispose()


def a_whole_call(call_id: uuid.UUID) -> list:
    """What one short call submits: opened, a key, a survey answer, closed."""
    now = datetime.now(UTC)
    return [
        open_call(call_id),
        AddEvent(call_id, now, "dtmf", {"digit": "1", "node": "welcome"}),
        InsertRow(
            Survey,
            {"call_id": call_id, "score": 4, "flow": "survey", "node": "ask", "created_at": now},
        ),
        CloseCall(call_id, now, Disposition.COMPLETED, 16, "Normal Clearing", "survey"),
    ]


async def call_as_written(db, call_id: uuid.UUID) -> dict:
    async with db.connect() as conn:
        call = (
            await conn.execute(
                text("SELECT ended_at IS NOT NULL AS closed, disposition FROM calls WHERE id = :c"),
                {"c": call_id},
            )
        ).one_or_none()
    return {
        "call": None if call is None else tuple(call),
        "events": await count(db, "call_events", call_id),
        "surveys": await count(db, "surveys", call_id),
    }


WRITTEN_ONCE = {"call": (True, "completed"), "events": 1, "surveys": 1}


@contextlib.asynccontextmanager
async def running(recorder: CallRecorder) -> AsyncIterator[asyncio.Task[None]]:
    """The writer runs inside the block; leaving it stops the writer where it
    is, as a dying process would (nothing flushed), and releases the spool."""
    writer = asyncio.create_task(recorder.run())
    try:
        yield writer
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        recorder.close()


async def replay(db, spool_path: Path) -> None:
    """The next start: a writer on the real database with the same spool."""
    recorder = CallRecorder(db, spool_path=spool_path)
    async with running(recorder), asyncio.timeout(30):
        await recorder.wait_idle()


async def test_a_process_that_dies_during_an_outage_loses_no_record(db, database_url, tmp_path):
    spool_path = tmp_path / "spool" / "call-records.jsonl"
    unreachable = create_async_engine(at_port(database_url, free_tcp_port()))
    recorder = CallRecorder(unreachable, spool_path=spool_path)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with running(recorder):
        for op in a_whole_call(first):
            recorder.submit(op)
        await until_unhealthy(recorder)
        for op in a_whole_call(second):  # calls go on while the database is away
            recorder.submit(op)
    await unreachable.dispose()
    assert len(spool_path.read_text().splitlines()) == 8
    assert await call_as_written(db, first) == {"call": None, "events": 0, "surveys": 0}

    await replay(db, spool_path)
    assert await call_as_written(db, first) == WRITTEN_ONCE
    assert await call_as_written(db, second) == WRITTEN_ONCE
    assert not spool_path.exists()  # all written: the next outage starts a new file


async def test_a_replay_cut_short_writes_nothing_twice(db, tmp_path):
    spool_path = tmp_path / "call-records.jsonl"
    call_id = uuid.uuid4()
    ops = a_whole_call(call_id)
    # The previous process had written the call and its key before it died.
    done = CallRecorder(db)
    for op in ops[:2]:
        done.submit(op)
    async with running(done), asyncio.timeout(30):
        await done.flush()
    lines = [spool.encode(seq, op) for seq, op in enumerate(ops, start=1)]
    spool_path.write_text("\n".join([*lines, '{"committed": 2}', '{"seq": 5, "op"']))

    await replay(db, spool_path)
    assert await call_as_written(db, call_id) == WRITTEN_ONCE


async def test_an_unreadable_spool_is_kept_aside_and_the_writer_goes_on(db, tmp_path):
    spool_path = tmp_path / "call-records.jsonl"
    spool_path.write_text('{"seq": 1, "op": "OpenCall", "fields": {}}\nnot json\n{}\n')
    recorder = CallRecorder(db, spool_path=spool_path)
    assert recorder.backlog() == 0 and not spool_path.exists()
    [aside] = tmp_path.glob("call-records.jsonl.unreadable-*")
    assert aside.read_text().startswith('{"seq": 1')  # untouched, for a person to read


@pytest.fixture
async def silent_engine(database_url) -> AsyncIterator[AsyncEngine]:
    """A "PostgreSQL" that accepts connections and never answers (a partition):
    no error ever tells the writer the database is away."""
    peers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        await reader.read()  # says nothing, ever

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    engine = create_async_engine(at_port(database_url, server.sockets[0].getsockname()[1]))
    yield engine
    await engine.dispose()
    for peer in peers:
        peer.close()
    server.close()
    await server.wait_closed()


async def test_stopping_while_the_database_hangs_keeps_the_backlog(db, silent_engine, tmp_path):
    """Stopping puts what waits (the batch in flight too) on disk."""
    spool_path = tmp_path / "call-records.jsonl"
    recorder = CallRecorder(silent_engine, spool_path=spool_path)
    call_id = uuid.uuid4()
    async with running(recorder):
        for op in a_whole_call(call_id):
            recorder.submit(op)
        await asyncio.sleep(0.3)  # the writer has taken them and waits on the server
        assert recorder.backlog() == 4 and not spool_path.exists()
        assert recorder.spool_backlog() == 4
    await replay(db, spool_path)
    assert await call_as_written(db, call_id) == WRITTEN_ONCE


async def test_a_silent_database_gets_the_backlog_spooled_before_any_error(
    db, silent_engine, tmp_path, monkeypatch
):
    monkeypatch.setattr("callcenter.calls.recorder.SLOW_WRITE_SECONDS", 0.2)
    spool_path = tmp_path / "call-records.jsonl"
    recorder = CallRecorder(silent_engine, spool_path=spool_path)
    call_id = uuid.uuid4()
    async with running(recorder):  # killed on leaving, while the write still hangs
        for op in a_whole_call(call_id):
            recorder.submit(op)
        for _ in range(50):
            if spool_path.exists() and len(spool_path.read_text().splitlines()) == 4:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the backlog was not spooled while the database was silent")
    await replay(db, spool_path)
    assert await call_as_written(db, call_id) == WRITTEN_ONCE


async def test_connections_dropped_mid_way_are_an_outage_not_bad_records(db, database_url, caplog):
    """The database host goes away under open connections: the writer waits and
    retries instead of taking the dropped connection for records it refuses."""
    proxy = DatabaseProxy(database_url)
    through = create_async_engine(await proxy.start())
    recorder = CallRecorder(through)
    before, during = uuid.uuid4(), uuid.uuid4()
    async with running(recorder):
        for op in a_whole_call(before):
            recorder.submit(op)
        async with asyncio.timeout(30):
            await recorder.flush()  # the pool now holds a connection through the hop
        proxy.cut()
        for op in a_whole_call(during):
            recorder.submit(op)
        await until_unhealthy(recorder)
        proxy.restore()
        async with asyncio.timeout(30):
            await recorder.flush()
    await through.dispose()
    await proxy.close()
    assert await call_as_written(db, before) == WRITTEN_ONCE
    assert await call_as_written(db, during) == WRITTEN_ONCE
    assert "database unavailable" in caplog.text
    assert "rejected" not in caplog.text and "dropped" not in caplog.text


async def test_a_record_the_code_cannot_even_build_is_dropped_and_the_writer_goes_on(db, caplog):
    recorder = CallRecorder(db)
    call_id = uuid.uuid4()
    async with running(recorder) as writer:
        recorder.insert(Survey, {"no_such_column": 1})  # refused before reaching PostgreSQL
        for op in a_whole_call(call_id):
            recorder.submit(op)
        async with asyncio.timeout(30):
            await recorder.flush()
        assert not writer.done()
    assert await call_as_written(db, call_id) == WRITTEN_ONCE
    assert "call record operation dropped: InsertRow" in caplog.text
