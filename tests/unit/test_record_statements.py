"""How a batch of record operations becomes statements: one per batch (split
only by a restart's CloseLost), the same text for batches of the same shape,
ids kept through the spool, and rows that could be written twice refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from callcenter.calls import record_sql, spool
from callcenter.calls.record_ops import (
    AddEvent,
    Barrier,
    CloseCall,
    CloseLost,
    InsertRow,
    MarkAnswered,
    OpenCall,
)
from callcenter.calls.recorder import CallRecorder
from callcenter.db.models import Disposition, QueueCall, Survey

AT = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)


def call(n: int = 0) -> list:
    cid = uuid.uuid4()
    return [
        OpenCall(cid, f"chan-{cid}", "l", "PJSIP/t", "13800000000", "", "12345", AT),
        *(AddEvent(cid, AT, "ivr_node", {"node": f"n{k}"}) for k in range(n + 1)),
        MarkAnswered(cid, AT),
        CloseCall(cid, AT, Disposition.COMPLETED, 16, "Normal Clearing", "bye"),
    ]


def test_a_batch_is_one_statement_of_the_same_text_each_time():
    [first] = record_sql.statements(call(1) + call(5))
    [second] = record_sql.statements(call(3))
    assert first.sql == second.sql  # prepared once on the connection
    assert first.sql.count("INSERT INTO") == 2 and first.sql.count("UPDATE calls") == 1
    assert "ON CONFLICT (op_id) DO NOTHING" in first.sql


def test_an_answer_and_close_in_the_batch_of_their_open_ride_on_its_insert():
    [statement] = record_sql.statements(call())
    [calls_row] = json.loads(statement.args[0])
    named = dict(zip((c for c, _ in record_sql.CALL_COLUMNS), calls_row, strict=True))
    assert (named["answered_at"], named["ended_at"], named["disposition"]) == (
        AT.isoformat(),
        AT.isoformat(),
        "completed",
    )


def test_a_restart_close_splits_the_batch_where_it_stands():
    ops = [*call(), Barrier(), CloseLost(frozenset({"x"}), AT), *call()]
    parts = record_sql.statements(ops)
    assert [p.lost is not None for p in parts] == [False, True, False]


def test_rows_of_a_table_without_op_id_need_their_key_when_submitted():
    row = {"call_id": uuid.uuid4(), "queue": "q", "priority": 0, "entered_at": AT}
    with pytest.raises(ValueError, match=r"queue_calls row needs its key \(id\)"):
        record_sql.statements([InsertRow(QueueCall, row)])
    with pytest.raises(ValueError, match="surveys has no column 'nope'"):
        record_sql.statements([InsertRow(Survey, {"nope": 1})])


def test_an_operation_keeps_its_id_through_the_spool():
    ops = call(2)
    assert len({op.op_id for op in ops}) == len(ops)
    entries = [json.loads(spool.encode(n, op)) for n, op in enumerate(ops, 1)]
    decoded = [spool._decode_op(e["op"], e["fields"]) for e in entries]
    assert [op.op_id for op in decoded] == [op.op_id for op in ops]


def test_noise_is_not_kept_in_the_timeline():
    recorder = CallRecorder(create_async_engine("postgresql+asyncpg://x@127.0.0.1:1/x"))
    cid = uuid.uuid4()
    recorder.submit(AddEvent(cid, AT, "PlaybackContinuing", {}))
    assert recorder.backlog() == 0
    recorder.submit(AddEvent(cid, AT, "PlaybackFinished", {}))
    assert recorder.backlog() == 1
