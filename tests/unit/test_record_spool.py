"""The record spool's lines: every operation that carries data reads back as
it was written, and a damaged file is named, file and line."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from callcenter.calls import spool
from callcenter.calls.record_ops import (
    AddEvent,
    AgentStateLogged,
    Barrier,
    CloseCall,
    CloseLost,
    InsertRow,
    MarkAnswered,
    OpenCall,
)
from callcenter.calls.recorder import _unreachable
from callcenter.db.models import Disposition, QueueRequest

CALL = uuid.UUID("6f1c3a52-93f4-4c53-9a4e-2f1b1c0d9e11")
AT = datetime(2026, 10, 1, 9, 30, 15, 250000, tzinfo=UTC)

OPS = [
    OpenCall(CALL, "chan-1", "chan-1", "PJSIP/trunk-01", "13800000000", "张三", "12345", AT),
    AddEvent(CALL, AT, "dtmf", {"digit": "1", "path": ["welcome", "menu"], "at": None}),
    MarkAnswered(CALL, AT),
    CloseCall(CALL, AT, Disposition.ABANDONED, 16, "Normal Clearing", "menu"),
    AgentStateLogged("1001", "paused", "午休", None, AT),
    InsertRow(
        QueueRequest,
        {
            "call_id": CALL,
            "queue": "general",
            "priority": 0,
            "skills": ["zh"],
            "flow": "12345",
            "node": "queue",
            "requested_at": AT,
            "day": date(2026, 10, 1),
            "score": 0.5,
        },
    ),
]


def write(path: Path, *lines: str, newline: bool = True) -> Path:
    path.write_text("\n".join(lines) + ("\n" if newline else ""), encoding="utf-8")
    return path


def test_every_operation_with_data_reads_back_equal(tmp_path: Path):
    path = write(tmp_path / "spool", *(spool.encode(n, op) for n, op in enumerate(OPS, 1)))
    recovered = spool.read(path)
    assert recovered.ops == list(enumerate(OPS, 1))
    assert recovered.last_seq == len(OPS)
    assert isinstance(recovered.ops[3][1].disposition, Disposition)


def test_what_was_committed_is_not_read_back(tmp_path: Path):
    lines = [spool.encode(n, op) for n, op in enumerate(OPS, 1)]
    path = write(tmp_path / "spool", *lines[:3], '{"committed": 2}', *lines[3:])
    assert [seq for seq, _ in spool.read(path).ops] == [3, 4, 5, 6]


def test_a_last_line_cut_short_is_skipped(tmp_path: Path):
    path = write(tmp_path / "spool", spool.encode(1, OPS[0]), '{"seq": 2, "op": "Ad', newline=False)
    assert spool.read(path).ops == [(1, OPS[0])]


@pytest.mark.parametrize(
    "bad",
    ["not json", '{"seq": 2, "op": "Teleport", "fields": {}}', '{"seq": 2, "op": "OpenCall"}'],
)
def test_a_damaged_line_is_named_with_file_and_line(tmp_path: Path, bad: str):
    path = write(tmp_path / "spool", spool.encode(1, OPS[0]), bad, spool.encode(3, OPS[2]))
    with pytest.raises(spool.SpoolCorrupt, match=rf"^{path}:2: "):
        spool.read(path)


def test_only_operations_with_data_are_kept():
    assert all(spool.keeps(op) for op in OPS)
    assert not spool.keeps(Barrier())
    assert not spool.keeps(CloseLost(frozenset(), AT))


def test_a_value_it_cannot_write_back_is_refused_when_kept():
    with pytest.raises(TypeError, match="cannot spool a set"):
        spool.encode(1, AddEvent(CALL, AT, "odd", {"keys": {"1", "2"}}))


def test_a_cut_line_is_trimmed_so_the_next_outage_appends_whole_lines(tmp_path: Path):
    path = write(tmp_path / "spool", spool.encode(1, OPS[0]), '{"seq": 2, "op": "Ad', newline=False)
    first = spool.Spool(path)
    assert first.recover() == [OPS[0]]
    first.start([OPS[2]])  # the database is still away: more is kept, then the process dies
    first.file.close()
    again = spool.Spool(path).recover()
    assert again == [OPS[0], OPS[2]]


def test_an_unwritable_spool_is_reported_once_and_records_stay_in_memory(tmp_path, caplog):
    (tmp_path / "spool").write_text("a file where the folder should be")
    kept = spool.Spool(tmp_path / "spool" / "call-records.jsonl")
    kept.start(OPS)
    assert kept.kept() == 0
    assert caplog.text.count("cannot be written") == 1


def test_the_spool_file_goes_once_nothing_in_it_is_owed(tmp_path: Path):
    kept = spool.Spool(tmp_path / "call-records.jsonl")
    kept.start(OPS[:2])
    kept.keep(OPS[2])  # still away: submitted ops are kept too
    kept.committed(OPS[:2], healthy=True)  # it answers again
    kept.keep(OPS[3])  # ...so new ones stay in memory
    assert kept.kept() == 1 and kept.file.path.exists()
    kept.committed(OPS[2:4], healthy=True)
    assert kept.kept() == 0 and not kept.file.path.exists()


class FakeOrig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(), True),
        (DBAPIError("COMMIT", None, FakeOrig("57P03")), True),  # starting up / recovering
        (DBAPIError("SELECT 1", None, FakeOrig("57P01")), True),  # admin shutdown
        (DBAPIError("SELECT 1", None, FakeOrig("53300")), True),  # too many connections
        (DBAPIError("SELECT 1", None, FakeOrig("08006")), True),  # connection failure
        (DBAPIError("INSERT", None, FakeOrig("x"), connection_invalidated=True), True),
        (DBAPIError("INSERT", None, FakeOrig("23503")), False),  # foreign key: the data
        (DBAPIError("INSERT", None, FakeOrig("57014")), True),  # statement timeout
        (DBAPIError("INSERT", None, FakeOrig("25006")), True),  # read-only: a failed-over standby
        (DBAPIError("INSERT", None, FakeOrig("53100")), True),  # disk full
        (DBAPIError("INSERT", None, FakeOrig("40P01")), True),  # deadlock
        (DBAPIError("INSERT", None, FakeOrig("22P02")), False),  # a value it cannot take
        (DBAPIError("INSERT", None, FakeOrig("42P01")), False),  # no such table: the schema
        (ValueError("bad value"), False),
    ],
)
def test_an_outage_is_told_from_a_refusal(error: BaseException, outage: bool):
    assert _unreachable(error) is outage


def test_after_a_disk_error_the_file_keeps_the_order_things_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "DISK_RETRY_SECONDS", 0.0)
    folder = tmp_path / "spool"
    folder.write_text("a file where the folder should be")
    kept = spool.Spool(folder / "call-records.jsonl")
    kept.start(OPS[:1])  # the disk fails on the first
    kept.keep(OPS[1])  # submitted meanwhile: not written ahead of the first
    assert kept.kept() == 0 and kept.behind()
    folder.unlink()  # the disk is back
    kept.start(OPS[:2])  # the writer walks what waits, in order
    kept.keep(OPS[2])
    kept.file.close()
    assert spool.read(kept.file.path).ops == list(enumerate(OPS[:3], 1))
