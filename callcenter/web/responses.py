"""JSON responses that keep Chinese readable (no \\u escapes)."""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_ok(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)
