"""A big export never holds the event loop that drives calls: 20,000 tickets
exported, every row turned into cells off the loop while the loop stays free to
answer; the file is whole, the temporary file gone; more than the cap is
refused. Routes in this process (access_app.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from callcenter.tickets import export
from callcenter.users.roles import Actor, Role
from tests.db.access_app import running

ROWS = 20_000
# openpyxl takes ~0.25 ms a row (as long again to read it back): the workbook
# test exports the consultations only, every fourth ticket (g = 1, 5, 9, ...).
CONSULTATIONS = ROWS // 4
# How long the worker thread waits for the loop to answer it mid-build: a bound
# on a wait for an event, not a measure of speed.
LOOP_ANSWERS_WITHIN = 60.0


@pytest.fixture(scope="module")
async def many(db) -> AsyncIterator[tuple[str, str]]:
    """ROWS tickets in a district of their own, every 4th a consultation and every
    100th confidential (g = 5, 105, ...): (district, query code prefix)."""
    district = f"导出区{uuid.uuid4().hex[:6]}"
    prefix = f"{uuid.uuid4().int % 10**9:09d}"
    async with db.begin() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO tickets (id, query_code, channel, nature, subject, content,
                    caller_name, caller_phone, address, district, confidential, status,
                    created_at, updated_at, stage_started_at)
                SELECT gen_random_uuid(), :prefix || lpad(g::text, 6, '0'), 'phone',
                    CASE WHEN g % 4 = 1 THEN 'consultation' ELSE 'complaint' END,
                    '小区停水', '=SUM(A1) 阳光花园停水第' || g || '天，物业不给说法',
                    '王女士', '138' || lpad(g::text, 8, '0'), '阳光花园' || g || '栋', :district,
                    g % 100 = 5, 'registered', now() - g * interval '1 second', now(), now()
                FROM generate_series(1, :n) AS g
                """
            ),
            {"prefix": prefix, "district": district, "n": ROWS},
        )
    yield district, prefix
    async with db.begin() as conn:
        await conn.execute(text("DELETE FROM tickets WHERE district = :d"), {"d": district})


class Build:
    """Wraps the export's ``cells``: notes the thread every row is built on and,
    halfway through, asks the loop to answer while the build goes on: a build
    holding the loop would wait for itself until the bound and fail."""

    def __init__(self, cells: Callable[..., list[str]], halfway: int) -> None:
        self.cells = cells
        self.halfway = halfway
        self.loop = asyncio.get_running_loop()
        self.threads: set[int] = set()
        self.rows = 0
        self.answered: bool | None = None  # None: the build never got halfway

    def __call__(self, *args: object) -> list[str]:
        self.threads.add(threading.get_ident())
        self.rows += 1
        if self.rows == self.halfway:
            answer = threading.Event()
            self.loop.call_soon_threadsafe(answer.set)
            self.answered = answer.wait(LOOP_ANSWERS_WITHIN)
        return self.cells(*args)


def open_in(directory: Path) -> list[str]:
    """Files in ``directory`` and descriptors still open on anything there."""
    names = [p.name for p in directory.iterdir()]
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            names.append(target)
    return names


@pytest.mark.parametrize(
    ("fmt", "nature", "rows"), [("csv", None, ROWS), ("xlsx", "consultation", CONSULTATIONS)]
)
async def test_a_big_export_is_whole_while_the_loop_keeps_ticking(
    db, sessions, desk, finder, many, tmp_path, monkeypatch, fmt, nature, rows
):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    district, prefix = many
    agent = Actor(f"agent-{uuid.uuid4().hex[:6]}", Role.AGENT)
    build = Build(export.cells, halfway=rows // 2)
    monkeypatch.setattr(export, "cells", build)
    async with running(sessions, desk[0], finder) as (client, tokens):
        async with client.get(
            "/api/v1/tickets/export",
            params={
                "district": district,
                "format": fmt,
                "reason": "月度报表",
                **({"nature": nature} if nature else {}),
            },
            headers=tokens.headers(agent),
        ) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["X-Export-Rows"] == str(rows)
            data = await resp.read()
    assert build.rows == rows
    assert threading.get_ident() not in build.threads  # no row built on the loop
    assert build.answered is True  # the loop was free halfway through the build
    assert open_in(tmp_path) == []  # the export's temporary file (and openpyxl's) are gone

    if fmt == "csv":
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        header, lines = table[0], table[1:]
        content = header.index("内容")
        assert all(line[content].startswith("'=SUM") for line in lines)  # text, not a formula
    else:
        sheet = load_workbook(io.BytesIO(data), read_only=True)["工单"]
        cells = list(sheet.iter_rows())
        header, lines = [c.value for c in cells[0]], [[c.value for c in r] for r in cells[1:]]
        content = header.index("内容")
        assert {r[content].data_type for r in cells[1:]} == {"s"}  # text, not a formula
    code, phone = header.index("查询码"), header.index("电话")
    step = 1 if nature is None else 4
    assert len(lines) == rows
    assert [line[code] for line in lines] == [f"{prefix}{g:06d}" for g in range(1, ROWS + 1, step)]
    newest = lines[0]  # newest first: g = 1, not confidential, shown in full to an agent
    assert newest[phone] == "13800000001"
    confidential = next(line for line in lines if line[code] == f"{prefix}000005")
    assert confidential[phone] != "13800000005" and "*" in confidential[phone]

    async with db.connect() as conn:
        logged = (
            await conn.execute(text("SELECT * FROM access_log WHERE actor = :a"), {"a": agent.name})
        ).one()
    assert (logged.subject, logged.action, logged.reason) == ("ticket", "export", "月度报表")
    assert logged.detail["rows"] == rows and logged.detail["format"] == fmt
    assert logged.detail["filters"] == {
        "district": district,
        **({"nature": [nature]} if nature else {}),
    }


async def test_an_export_over_the_cap_is_refused_naming_the_limit(
    db, sessions, desk, finder, many, tmp_path, monkeypatch
):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    district, _ = many
    agent = Actor(f"agent-{uuid.uuid4().hex[:6]}", Role.AGENT)
    async with running(sessions, desk[0], finder, export_max_rows=ROWS - 1) as (client, tokens):
        async with client.get(
            "/api/v1/tickets/export",
            params={"district": district, "reason": "月度报表"},
            headers=tokens.headers(agent),
        ) as resp:
            assert resp.status == 422
            problem = await resp.json()
    assert resp.content_type == "application/problem+json"
    assert problem["detail"].startswith(f"{ROWS} rows match; tickets.export_max_rows allows")
    assert f"at most {ROWS - 1}" in problem["detail"]
    assert open_in(tmp_path) == []
    async with db.connect() as conn:
        logged = await conn.scalar(
            text("SELECT count(*) FROM access_log WHERE actor = :a"), {"a": agent.name}
        )
    assert logged == 0  # nothing was sent
