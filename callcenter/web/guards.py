"""Refused before any handler: a path or query holding NUL, which no text
column of PostgreSQL can store (the database would answer with an error, and
the client with a 500). Bodies are checked where they are parsed."""

from __future__ import annotations

from aiohttp import web

from callcenter.web.problems import Handler
from callcenter.web.requests import refuse_nul


@web.middleware
async def refuse_nul_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    refuse_nul(request, request.path, "path")
    refuse_nul(request, {key: request.query.getall(key) for key in request.query}, "query")
    return await handler(request)
