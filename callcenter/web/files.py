"""Exports: refused past their cap before anything is built, built in a worker
thread (:func:`callcenter.spreadsheets.build`), put on record with their row
count, then streamed from the temporary file in chunks, each read in a worker
thread, so neither the disk nor the size holds the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from callcenter import spreadsheets
from callcenter.audit.access_log import Action, Reader, Subject
from callcenter.spreadsheets import CONTENT_TYPES, Built
from callcenter.web.access import record

# An export's success answer in the API document: a file, in either format.
EXPORT_DOCUMENTED: dict[str, Any] = {
    "description": "text/csv or an .xlsx workbook; X-Export-Rows: its row count",
    "content": {media: {"schema": {"type": "string"}} for media in CONTENT_TYPES.values()},
}

T = TypeVar("T")

CHUNK = 256 * 1024


async def send_export(request: web.Request, built: Built, name: str) -> web.StreamResponse:
    """``built`` as ``name.csv``/``name.xlsx``; ``X-Export-Rows`` says how many rows."""
    response = web.StreamResponse(
        headers={
            "Content-Type": CONTENT_TYPES[built.format],
            "Content-Disposition": f'attachment; filename="{name}.{built.format.value}"',
            "X-Export-Rows": str(built.rows),
            "Cache-Control": "no-store",
        }
    )
    response.content_length = built.size
    await response.prepare(request)
    while chunk := await asyncio.to_thread(built.file.read, CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


@dataclass(frozen=True, slots=True)
class Sheet:
    """What one kind of export is called: its file, its columns, its cap's setting."""

    name: str  # the file's name without extension
    title: str  # the workbook's sheet
    headings: Sequence[str]
    limit_name: str  # the setting that caps it, named in the 422


async def export_on_record(
    request: web.Request,
    reading: Reader,
    subject: Subject,
    sheet: Sheet,
    *,
    total: int,
    cap: int,
    batches: Callable[[int], AsyncGenerator[Sequence[T], None]],
    cells: Callable[[T], list[str]],
    fmt: spreadsheets.Format,
    filters: Mapping[str, Any],
) -> web.StreamResponse:
    """``total`` rows (counted first) past ``cap``: 422, nothing built. Else every
    row of ``batches(cap + 1)`` built, the export put on record with its filters and
    row count (503 and nothing sent when it cannot be), then streamed."""
    if total > cap:
        raise spreadsheets.TooManyRows(cap, sheet.limit_name, total)
    built = await spreadsheets.build(
        batches(cap + 1),
        cells,
        fmt,
        sheet.headings,
        title=sheet.title,
        max_rows=cap,
        limit_name=sheet.limit_name,
    )
    with built:
        detail = {"filters": dict(filters), "format": fmt.value, "rows": built.rows}
        await record(request, reading, subject, Action.EXPORT, detail=detail)
        return await send_export(request, built, sheet.name)
