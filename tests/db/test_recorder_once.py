"""Exactly once: a batch the writer writes again (its answer was lost after
PostgreSQL committed it) or a spool replayed after a crash that came after the
commit leaves one row per operation, in every table the writer fills."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from callcenter.calls import recorder as recorder_module
from callcenter.calls import spool
from callcenter.calls.acd_store import AcdStore, QueueStay
from callcenter.calls.metrics import watch_record_writer
from callcenter.calls.record_ops import (
    AddEvent,
    AgentStateLogged,
    CloseCall,
    CloseLost,
    InsertRow,
    MarkAnswered,
    Op,
)
from callcenter.calls.recorder import CallRecorder, connect
from callcenter.db.models import (
    CallbackTask,
    Disposition,
    QueueRequest,
    Recording,
    Survey,
    Voicemail,
)
from tests.db.test_recorder_rows import open_call, running

TABLES = (
    "call_events",
    "queue_calls",
    "recordings",
    "voicemails",
    "surveys",
    "queue_requests",
    "callback_tasks",
    "agent_state_log",
)


def everything(call_id: uuid.UUID, agent: str) -> list[Op]:
    """One call that touches every table the writer fills."""
    now = datetime.now(UTC)
    recording_id = uuid.uuid4()
    ops: list[Op] = [open_call(call_id)]
    ops += [AddEvent(call_id, now, "ivr_node", {"node": f"n{k}"}) for k in range(3)]
    ops += [
        MarkAnswered(call_id, now),
        InsertRow(
            QueueRequest,
            {
                "call_id": call_id,
                "queue": "general",
                "priority": 0,
                "skills": ["zh"],
                "flow": "12345",
                "node": "queue",
                "requested_at": now,
            },
        ),
        AgentStateLogged(agent, "busy", None, call_id, now),
        InsertRow(
            Recording,
            {
                "id": recording_id,
                "call_id": call_id,
                "kind": "voicemail",
                "name": f"once-{recording_id}",
                "format": "wav",
                "started_at": now,
                "duration_seconds": 3.5,
                "size_bytes": 1024,
                "sha256": "0" * 64,
                "agent_id": None,
            },
        ),
        InsertRow(
            Voicemail,
            {
                "id": uuid.uuid4(),
                "call_id": call_id,
                "recording_id": recording_id,
                "caller_number": "13800000000",
                "flow": "12345",
                "node": "leave_message",
                "created_at": now,
                "status": "new",
            },
        ),
        InsertRow(
            Survey,
            {"call_id": call_id, "score": 5, "flow": "survey", "node": "ask", "created_at": now},
        ),
        InsertRow(
            CallbackTask,
            {
                "call_id": call_id,
                "caller_number": "13800000000",
                "queue": "general",
                "reason": "abandoned",
                "queued_at": now,
                "created_at": now,
                "status": "open",
            },
        ),
        CloseCall(call_id, now, Disposition.ANSWERED, 16, "Normal Clearing", "queue"),
    ]
    return ops


async def with_queue_stay(recorder: CallRecorder, call_id: uuid.UUID) -> None:
    now = datetime.now(UTC)
    await AcdStore(recorder).stay_ended(
        QueueStay(call_id, "general", 0, now - timedelta(seconds=20), "answered", 1, "t1", now)
    )


async def rows(db, call_id: uuid.UUID, agent: str) -> dict[str, Any]:
    async with db.connect() as conn:
        counts = {
            table: (
                await conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE call_id = :c"), {"c": call_id}
                )
            ).scalar_one()
            for table in TABLES
        }
        counts["agent_state_log"] = (
            await conn.execute(
                text("SELECT count(*) FROM agent_state_log WHERE agent_id = :a"), {"a": agent}
            )
        ).scalar_one()
        call = (
            await conn.execute(
                text(
                    "SELECT count(*) OVER () AS n, answered_at IS NOT NULL AS answered, "
                    "disposition FROM calls WHERE id = :c"
                ),
                {"c": call_id},
            )
        ).one()
    return {"calls": tuple(call), **counts}


ONCE = {"calls": (1, True, "answered"), **dict.fromkeys(TABLES, 1), "call_events": 3}


class AnswerLost:
    """A connection whose first statement reaches PostgreSQL and is committed,
    then the connection drops before the answer comes back."""

    def __init__(self, conn: asyncpg.Connection, lost: list[str]) -> None:
        self._conn = conn
        self._lost = lost

    async def execute(self, sql: str, *args: Any, timeout: float | None = None) -> str:
        status = await self._conn.execute(sql, *args, timeout=timeout)  # committed (autocommit)
        self._lost.append(status)
        self._conn.terminate()
        raise asyncpg.exceptions.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_a_batch_whose_commit_answer_was_lost_lands_once(db, caplog):
    recorder = CallRecorder(db)
    lost: list[str] = []

    async def first_answer_lost(url):
        conn = await connect(url)
        return AnswerLost(conn, lost) if not lost else conn

    recorder.connect = first_answer_lost
    call_id, agent = uuid.uuid4(), f"once-{uuid.uuid4().hex[:8]}"
    for op in everything(call_id, agent):
        recorder.submit(op)
    await with_queue_stay(recorder, call_id)
    async with running(recorder), asyncio.timeout(30):
        await recorder.flush()
    assert lost == ["SELECT 1"]  # the whole batch was committed, then written again
    assert recorder.healthy and "database unavailable" not in caplog.text  # a new connection
    assert await rows(db, call_id, agent) == ONCE


async def test_a_spool_replayed_after_a_crash_after_the_commit_lands_once(db, tmp_path):
    """The process committed the spooled backlog and died before marking it
    committed: the next start replays all of it (and so would the one after)."""
    spool_path = tmp_path / "call-records.jsonl"
    call_id, agent = uuid.uuid4(), f"once-{uuid.uuid4().hex[:8]}"
    collect = CallRecorder(db)  # not running: only to build the queue stay's row
    await with_queue_stay(collect, call_id)
    ops = [*everything(call_id, agent), *collect._waiting()]
    spool_path.write_text("".join(spool.encode(n, op) + "\n" for n, op in enumerate(ops, 1)))
    again = tmp_path / "again.jsonl"
    shutil.copy(spool_path, again)

    for path in (spool_path, again):
        recorder = CallRecorder(db, spool_path=path)
        assert recorder.backlog() == len(ops)
        async with running(recorder), asyncio.timeout(30):
            await recorder.wait_idle()
        assert not path.exists()
    assert await rows(db, call_id, agent) == ONCE


async def test_an_answer_and_close_replayed_with_their_open_still_apply(db):
    """The open landed in an earlier batch; a replay brings it back together
    with the answer and the close: the insert does nothing, the update applies."""
    recorder = CallRecorder(db)
    call_id = uuid.uuid4()
    opened = open_call(call_id)
    async with running(recorder), asyncio.timeout(30):
        recorder.submit(opened)
        await recorder.flush()
        now = datetime.now(UTC)
        for op in (
            opened,
            MarkAnswered(call_id, now),
            CloseCall(call_id, now, Disposition.ABANDONED, 16, "Normal Clearing", "menu"),
            CloseCall(call_id, now, Disposition.FAILED, 0, None, "later"),  # first close wins
        ):
            recorder.submit(op)
        await recorder.flush()
    async with db.connect() as conn:
        call = (
            await conn.execute(
                text(
                    "SELECT answered_at IS NOT NULL, disposition, last_stage FROM calls "
                    "WHERE id = :c"
                ),
                {"c": call_id},
            )
        ).one()
    assert tuple(call) == (True, "abandoned", "menu")


async def test_each_batch_is_timed_and_the_spool_backlog_is_told(db, tmp_path):
    """What /metrics shows of the writer: a write-latency histogram and the spool's backlog."""
    registry = CollectorRegistry()
    recorder = CallRecorder(db)
    watch_record_writer(registry, recorder)
    async with running(recorder), asyncio.timeout(30):
        recorder.submit(open_call(uuid.uuid4()))
        await recorder.flush()
    assert registry.get_sample_value("hotline_record_write_seconds_count") == 1
    assert registry.get_sample_value("hotline_record_write_seconds_sum") > 0
    assert registry.get_sample_value("hotline_record_spooled") == 0

    spool_path = tmp_path / "call-records.jsonl"
    lines = [spool.encode(n, op) for n, op in enumerate(everything(uuid.uuid4(), "x"), 1)]
    spool_path.write_text("\n".join(lines) + "\n")
    registry = CollectorRegistry()
    replaying = CallRecorder(db, spool_path=spool_path)
    watch_record_writer(registry, replaying)
    assert registry.get_sample_value("hotline_record_spooled") == len(lines)  # owed, on disk
    async with running(replaying), asyncio.timeout(30):
        await replaying.wait_idle()
    assert registry.get_sample_value("hotline_record_spooled") == 0


async def test_a_connection_the_server_closed_is_replaced_without_an_outage(db, tmp_path, caplog):
    """PostgreSQL ends the writer's idle connection (an admin, an idle timeout):
    the next batch goes on a new one, nothing is spooled, no outage is logged."""
    spool_path = tmp_path / "call-records.jsonl"
    recorder = CallRecorder(db, spool_path=spool_path)
    first, second = uuid.uuid4(), uuid.uuid4()
    async with running(recorder), asyncio.timeout(30):
        recorder.submit(open_call(first))
        await recorder.flush()
        async with db.connect() as conn:
            ended = await conn.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": recorder._conn.get_server_pid()}
            )
            assert ended.scalar_one()
        recorder.submit(open_call(second))
        await recorder.flush()
    async with db.connect() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM calls WHERE id IN (:a, :b)"), {"a": first, "b": second}
        )
        assert found.scalar_one() == 2
    assert "database unavailable" not in caplog.text and not spool_path.exists()


async def test_values_land_as_they_were_given(db):
    """Times to the microsecond (in any zone), Chinese text, nested details,
    lists, floats and enums read back equal."""
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 10, 1, 9, 30, 15, 123456, tzinfo=shanghai)
    call_id = uuid.uuid4()
    opened = open_call(call_id)
    opened.caller_name, opened.started_at = "张三 \"王\" \\ 'x'", at
    detail = {"digit": "1", "path": ["欢迎", "菜单"], "n": 3, "ok": True, "none": None}
    recorder = CallRecorder(db)
    async with running(recorder), asyncio.timeout(30):
        for op in (
            opened,
            AddEvent(call_id, at, "menu_choice", detail),
            InsertRow(
                QueueRequest,
                {
                    "call_id": call_id,
                    "queue": "general",
                    "priority": 2,
                    "skills": ["zh", "税务"],
                    "flow": "12345",
                    "node": "queue",
                    "requested_at": at,
                },
            ),
            CloseCall(call_id, at, Disposition.CALLBACK, None, None, "菜单"),
        ):
            recorder.submit(op)
        await recorder.flush()
    async with db.connect() as conn:
        call = (
            await conn.execute(
                text(
                    "SELECT caller_name, started_at, ended_at, disposition, hangup_cause, "
                    "last_stage FROM calls WHERE id = :c"
                ),
                {"c": call_id},
            )
        ).one()
        event = (
            await conn.execute(
                text("SELECT at, kind, detail FROM call_events WHERE call_id = :c"), {"c": call_id}
            )
        ).one()
        request = (
            await conn.execute(
                text(
                    "SELECT priority, skills, requested_at FROM queue_requests WHERE call_id = :c"
                ),
                {"c": call_id},
            )
        ).one()
    assert tuple(call) == (opened.caller_name, at, at, "callback", None, "菜单")
    assert tuple(event) == (at, "menu_choice", detail)
    assert tuple(request) == (2, ["zh", "税务"], at)


class NeverAnswers:
    """A connection to a server that vanished without a reset (power lost): its
    statements are sent and never answered; asyncpg's timeout is all that ends them."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any, timeout: float | None = None) -> str:
        assert timeout is not None, "a statement without a timeout would wait for good"
        async with asyncio.timeout(timeout):  # as asyncpg applies it
            await asyncio.Event().wait()  # the answer that never comes
        raise AssertionError("unreachable")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_a_statement_never_answered_is_given_up_and_written_again(db, monkeypatch):
    monkeypatch.setattr(recorder_module, "STATEMENT_TIMEOUT_SECONDS", 0.05)
    recorder = CallRecorder(db)
    made: list[str] = []

    async def first_never_answers(url):
        conn = await connect(url)
        made.append("silent" if not made else "fresh")
        return NeverAnswers(conn) if made == ["silent"] else conn

    recorder.connect = first_never_answers
    call_id = uuid.uuid4()
    recorder.submit(open_call(call_id))
    async with running(recorder), asyncio.timeout(30):
        await recorder.flush()
    assert made == ["silent", "fresh"]  # given up, then a new connection
    async with db.connect() as conn:
        assert (
            await conn.scalar(text("SELECT count(*) FROM calls WHERE id = :c"), {"c": call_id}) == 1
        )


async def test_a_restart_close_written_again_leaves_calls_opened_after_it(db):
    """[close what is not live, open a new call] written twice (the COMMIT's answer
    lost): the second pass must not close the call that began after the restart."""
    recorder = CallRecorder(db)
    now = datetime.now(UTC)
    stale, fresh = uuid.uuid4(), uuid.uuid4()
    before = open_call(stale)
    before.started_at = now - timedelta(minutes=5)
    after = open_call(fresh)
    after.started_at = now + timedelta(seconds=1)
    recorder.submit(before)
    ops = [CloseLost(frozenset(), now), after]
    for _ in range(2):  # the batch as first written, then as written again
        for op in ops:
            recorder.submit(op)
        async with running(recorder), asyncio.timeout(30):
            await recorder.flush()
    async with db.connect() as conn:
        ended = dict(
            (
                await conn.execute(
                    text("SELECT id, ended_at IS NOT NULL FROM calls WHERE id IN (:a, :b)"),
                    {"a": stale, "b": fresh},
                )
            ).all()
        )
    assert ended == {stale: True, fresh: False}
