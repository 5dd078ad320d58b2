"""Sending a built export: streamed from its temporary file in chunks, each
read in a worker thread, so neither the disk nor the size holds the loop."""

from __future__ import annotations

import asyncio

from aiohttp import web

from callcenter.spreadsheets import CONTENT_TYPES, Built

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
