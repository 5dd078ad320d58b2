"""Request bodies validated with pydantic; errors name the field."""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from callcenter.errors import CallCenterError

M = TypeVar("M", bound=BaseModel)


class RequestInvalid(CallCenterError):
    title = "Invalid request"


async def parse_body(request: web.Request, model: type[M]) -> M:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"{request.method} {request.path}: body is not JSON: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()
        )
        raise RequestInvalid(f"{request.method} {request.path}: {fields}") from exc
