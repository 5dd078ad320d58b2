"""The call record writer on the real PostgreSQL: rows that belong to a call
land after it, and nothing is dropped while the database is unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from callcenter.calls.recorder import CallRecorder, OpenCall
from callcenter.db.models import QueueRequest, Survey


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


async def test_rows_of_a_call_wait_out_an_outage_and_land_after_the_call(db, database_url):
    unreachable = create_async_engine(
        database_url.replace("127.0.0.1:5432", f"127.0.0.1:{free_tcp_port()}")
    )
    recorder = CallRecorder(unreachable)
    writer = asyncio.create_task(recorder.run())
    call_id = uuid.uuid4()
    try:
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
        for _ in range(50):
            if not recorder.healthy:
                break
            await asyncio.sleep(0.05)
        assert not recorder.healthy  # the database is away: the rows wait
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
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
        await unreachable.dispose()
