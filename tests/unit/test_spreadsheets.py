"""Exports built in a worker thread into an anonymous temporary file: the cap,
and nothing left on disk or open when an export is refused or fails."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import tempfile
import threading
from pathlib import Path

import pytest
from openpyxl import load_workbook

from callcenter.spreadsheets import Format, TooManyRows, build


@pytest.fixture
def tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tempfile (and openpyxl through it) puts temporary files during the test."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def left_behind(directory: Path) -> list[str]:
    """Files in ``directory``, and descriptors still open on anything there (deleted or not)."""
    names = [p.name for p in directory.iterdir()]
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            fds.append(target)
    return names + fds


async def numbered(n: int, batch: int = 100):
    for start in range(0, n, batch):
        yield [[str(i), f"第{i}行"] for i in range(start, min(n, start + batch))]


def as_cells(row: list[str]) -> list[str]:
    return row


@pytest.mark.parametrize("fmt", list(Format))
async def test_rows_land_in_an_anonymous_file_written_off_the_loop(tmp_dir, fmt):
    loop_thread = threading.get_ident()
    writers: set[int] = set()

    def cells(row: list[str]) -> list[str]:
        writers.add(threading.get_ident())
        return row

    with await build(
        numbered(1000), cells, fmt, ["编号", "内容"], title="表", max_rows=1000, limit_name="x"
    ) as built:
        assert built.rows == 1000
        assert list(tmp_dir.iterdir()) == []  # no name on disk, ever
        assert os.stat(built.file.fileno()).st_mode & 0o777 == 0o600
        data = built.file.read()
    assert writers and loop_thread not in writers
    if fmt is Format.CSV:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    else:
        sheet = load_workbook(io.BytesIO(data))["表"]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["编号", "内容"] and rows[-1] == ["999", "第999行"] and len(rows) == 1001
    assert left_behind(tmp_dir) == []


@pytest.mark.parametrize("fmt", list(Format))
async def test_more_rows_than_the_cap_are_refused_and_nothing_is_left(tmp_dir, fmt):
    with pytest.raises(TooManyRows, match=r"more than 250 rows match; tickets.export_max_rows"):
        await build(
            numbered(1000),
            as_cells,
            fmt,
            ["编号", "内容"],
            title="表",
            max_rows=250,
            limit_name="tickets.export_max_rows",
        )
    assert left_behind(tmp_dir) == []


@pytest.mark.parametrize("fmt", list(Format))
async def test_a_failing_row_or_a_cancelled_export_leaves_nothing(tmp_dir, fmt):
    def broken(row: list[str]) -> list[str]:
        if row[0] == "420":
            raise ValueError("bad row")
        return row

    with pytest.raises(ValueError, match="bad row"):
        await build(
            numbered(1000), broken, fmt, ["a", "b"], title="t", max_rows=10**6, limit_name="x"
        )
    assert left_behind(tmp_dir) == []

    started = asyncio.Event()

    async def endless():
        async for batch in numbered(10**9):
            started.set()
            yield batch

    task = asyncio.create_task(
        build(endless(), as_cells, fmt, ["a", "b"], title="t", max_rows=10**9, limit_name="x")
    )
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert left_behind(tmp_dir) == []
