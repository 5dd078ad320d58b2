"""The OpenAPI document, built from the routes that carry a description.

Handlers are documented with :func:`documented`; later features add routes and
they appear here without a second list to keep in sync.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

import callcenter

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__openapi__"


def documented(
    summary: str,
    *,
    tags: tuple[str, ...] = (),
    responses: dict[str, Any] | None = None,
    request_body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = True,
) -> Callable[[F], F]:
    def wrap(handler: F) -> F:
        setattr(
            handler,
            _ATTR,
            {
                "summary": summary,
                "tags": list(tags),
                "responses": responses or {"200": {"description": "OK"}},
                **({"requestBody": request_body} if request_body else {}),
                **({"parameters": parameters} if parameters else {}),
                **({} if public else {"security": [{"bearer": []}]}),
            },
        )
        return handler

    return wrap


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        spec = getattr(route.handler, _ATTR, None)
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if spec is None or path is None or route.method == "HEAD":
            continue
        paths.setdefault(path, {})[route.method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "12345 hotline call centre API", "version": callcenter.__version__},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                    },
                }
            },
        },
    }


@documented("This document", tags=("meta",))
async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))
