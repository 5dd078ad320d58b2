"""CSV and XLSX files built off the event loop, for exports of any size.

Rows come from the database in batches through a server-side cursor (on the
loop: waiting for them is I/O). Turning them into cells and writing the file
happens in a worker thread, which writes one batch while the loop fetches the
next, so a 100,000-row export never holds the loop that drives the calls.
The file is an anonymous temporary file (``tempfile.TemporaryFile``: created
0600 with O_EXCL and unlinked at once), so nothing of it stays on disk
whatever happens to the process; closing it frees it.

Cells are always text: a citizen's ``=HYPERLINK(...)`` never runs (CSV and
formula injection). CSV starts with a UTF-8 byte order mark, without which
Excel on a Chinese desktop shows the text garbled; XLSX is written in
openpyxl's streaming mode, flat in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import enum
import io
import os
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import IO, Protocol, TypeVar

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from callcenter.errors import CallCenterError

T = TypeVar("T")

# A cell starting with one of these is a formula to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The writer thread lets go of the interpreter every this many rows: on a busy
# machine the event loop would otherwise wait up to ~0.1 s for it (measured).
YIELD_EVERY = 50


class Format(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


CONTENT_TYPES = {
    Format.CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class TooManyRows(CallCenterError):
    """More rows match than the configured cap: the export is refused, not cut."""

    title = "Export too large"

    def __init__(self, limit: int, setting: str, matched: int | None = None) -> None:
        found = f"{matched} rows match" if matched is not None else f"more than {limit} rows match"
        super().__init__(
            f"{found}; {setting} allows at most {limit} in one export: "
            "narrow the filters (a shorter date range, a status, a district)"
        )
        self.limit = limit


class _Sheet(Protocol):
    def write(self, rows: list[list[str]]) -> None: ...
    def finish(self) -> None: ...
    def discard(self) -> None: ...


def _inert(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


class _CsvSheet:
    def __init__(self, file: IO[bytes], headings: Sequence[str]) -> None:
        self.text = io.TextIOWrapper(file, encoding="utf-8", newline="")
        self.text.write("\ufeff")
        self.writer = csv.writer(self.text)
        self.writer.writerow(headings)

    def write(self, rows: list[list[str]]) -> None:
        self.writer.writerows([_inert(cell) for cell in row] for row in rows)

    def finish(self) -> None:
        self.text.flush()
        self.text.detach()  # the file stays open for sending

    def discard(self) -> None:
        with contextlib.suppress(ValueError):  # detached already
            self.text.detach()


class _XlsxSheet:
    def __init__(self, file: IO[bytes], headings: Sequence[str], title: str) -> None:
        self.file = file
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title)
        header = []
        for heading in headings:
            cell = WriteOnlyCell(self.sheet, value=heading)
            cell.font = Font(bold=True)
            header.append(cell)
        self.sheet.append(header)

    def write(self, rows: list[list[str]]) -> None:
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(self.sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"  # text, always: "=..." from a citizen is not a formula
                cells.append(cell)
            self.sheet.append(cells)

    def finish(self) -> None:
        self.book.save(self.file)  # removes openpyxl's own temporary file of the rows

    def discard(self) -> None:
        # openpyxl keeps the rows in a temporary file of its own until save; an
        # export given up removes it now rather than at the process's exit.
        with contextlib.suppress(Exception):  # ends the sheet's XML, closes its file
            self.sheet.close()
        writer = getattr(self.sheet, "_writer", None)
        if writer is not None:
            with contextlib.suppress(OSError, ValueError):
                writer.cleanup()


def _open(fmt: Format, file: IO[bytes], headings: Sequence[str], title: str) -> _Sheet:
    return _CsvSheet(file, headings) if fmt is Format.CSV else _XlsxSheet(file, headings, title)


@dataclass(slots=True)
class Built:
    """A finished export: the open file at its start, how many rows, its size."""

    file: IO[bytes]
    format: Format
    rows: int
    size: int

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Built:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


async def build(
    batches: AsyncGenerator[Sequence[T], None],
    cells: Callable[[T], list[str]],
    fmt: Format,
    headings: Sequence[str],
    *,
    title: str,
    max_rows: int,
    limit_name: str,
) -> Built:
    """The file of every row ``batches`` yields, built in a worker thread.

    More than ``max_rows`` rows raises TooManyRows (``limit_name`` is the
    setting to name). On any error the file and the sheet's own temporary
    files are gone before this returns.
    """
    file = tempfile.TemporaryFile()  # closed by Built, or below on failure
    sheet: _Sheet | None = None
    pending: asyncio.Future[None] | None = None
    try:
        sheet = await asyncio.to_thread(_open, fmt, file, headings, title)
        rows = 0
        async with contextlib.aclosing(batches):
            async for batch in batches:
                if pending is not None:
                    await asyncio.shield(pending)
                rows += len(batch)
                if rows > max_rows:
                    raise TooManyRows(max_rows, limit_name)
                pending = asyncio.ensure_future(asyncio.to_thread(_write, sheet, batch, cells))
        if pending is not None:
            await asyncio.shield(pending)
        await asyncio.to_thread(sheet.finish)
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        return Built(file, fmt, rows, size)
    except BaseException:
        if pending is not None:
            if not pending.done():
                # The thread still writes into the file: let it finish before closing.
                await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved: the error that matters is being raised
        if sheet is not None:
            sheet.discard()
        file.close()
        raise


def _write(sheet: _Sheet, batch: Sequence[T], cells: Callable[[T], list[str]]) -> None:
    for start in range(0, len(batch), YIELD_EVERY):
        sheet.write([cells(row) for row in batch[start : start + YIELD_EVERY]])
        time.sleep(0)  # hands the interpreter lock over: the loop never queues long for it
