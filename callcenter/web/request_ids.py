"""Every HTTP request gets an id: on each log line its handler writes, and in the
``X-Request-Id`` answer header, so a user's report leads to the lines.

A client (or a proxy) may send its own ``X-Request-Id``; it is kept when it
is short and plain (letters, digits, ``.-_:``), else replaced: a log line must
never carry what a client typed unchecked.
"""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from callcenter import logs
from callcenter.web.problems import Handler

HEADER = "X-Request-Id"
_PLAIN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)


def request_id_of(request: web.BaseRequest) -> str:
    sent = request.headers.get(HEADER, "")
    return sent if _PLAIN.fullmatch(sent) else uuid.uuid4().hex[:16]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_of(request)
    request[REQUEST_ID] = request_id
    with logs.request_scope(request_id):
        return await handler(request)


async def echo_request_id(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare``: streamed answers (exports) carry the header too."""
    request_id = request.get(REQUEST_ID)
    if isinstance(request_id, str):
        response.headers[HEADER] = request_id
