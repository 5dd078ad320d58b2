"""Ticket lists as CSV and XLSX files for the centre's reports.

Rows arrive already masked for the reader (the same view as the API), so an
export never shows more than the screen would, and citizens' text is always
text, never a formula. CSV starts with a UTF-8 byte
order mark: without it Excel on a Chinese desktop shows the text garbled.
XLSX is written in openpyxl's streaming mode, so a large export stays flat
in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

# (key in the ticket view, column heading)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("query_code", "查询码"),
    ("created_at", "受理时间"),
    ("channel", "渠道"),
    ("nature", "性质"),
    ("category_code", "分类"),
    ("subject", "标题"),
    ("status", "状态"),
    ("colour", "预警"),
    ("due_at", "时限"),
    ("district", "区县"),
    ("address", "地址"),
    ("caller_name", "来电人"),
    ("caller_phone", "电话"),
    ("content", "内容"),
)
CSV_CHUNK = 256 * 1024


# A cell starting with one of these is a formula to a spreadsheet: citizens'
# text must never run (CSV/formula injection), so such cells are quoted.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: Mapping[str, Any]) -> list[str]:
    return ["" if row.get(key) is None else str(row[key]) for key, _ in COLUMNS]


def _inert(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


async def csv_chunks(rows: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[bytes]:
    """The CSV file in chunks, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([heading for _, heading in COLUMNS])
    async for row in rows:
        writer.writerow([_inert(cell) for cell in _cells(row)])
        if buffer.tell() >= CSV_CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


async def xlsx_bytes(rows: AsyncIterator[Mapping[str, Any]]) -> bytes:
    """The workbook: one sheet, a bold header, the rows as text."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("工单")
    header = []
    for _, heading in COLUMNS:
        cell = WriteOnlyCell(sheet, value=heading)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    async for row in rows:
        cells = []
        for value in _cells(row):
            cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"  # text, always: "=..." from a citizen is not a formula
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
