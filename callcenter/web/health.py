"""``/healthz`` (ARI and database status) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from callcenter.web.keys import CALLS, ENGINE, EVENTS, RECORDER, REGISTRY
from callcenter.web.openapi import documented
from callcenter.web.schemas import HealthOut

_HEALTH = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthOut"}}}}
HEALTH_RESPONSES = {
    "200": {"description": "ARI connected and database reachable", **_HEALTH},
    "503": {"description": "ARI or the database is down; the body says which", **_HEALTH},
}


async def _database_ok(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(2):
            async with request.app[ENGINE].connect() as conn:
                await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@documented(
    "Service health: ARI connection and database",
    tags=("meta",),
    public=True,
    response=HealthOut,
    responses=HEALTH_RESPONSES,
)
async def healthz(request: web.Request) -> web.Response:
    events = request.app[EVENTS]
    ari_ok = events.connected.is_set()
    db_ok = await _database_ok(request)
    body = {
        "status": "ok" if ari_ok and db_ok else "degraded",
        "ari": {"connected": ari_ok, "connections": events.connections},
        "database": {"ok": db_ok, "backlog": request.app[RECORDER].backlog()},
        "calls": {"active": request.app[CALLS].active(), "draining": request.app[CALLS].draining},
    }
    return web.json_response(body, status=200 if ari_ok and db_ok else 503)


@documented(
    "Prometheus metrics",
    tags=("meta",),
    public=True,
    response={"type": "string"},
    content_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest(request.app[REGISTRY]))
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return resp
