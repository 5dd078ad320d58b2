"""IVR flows over HTTP: which set is in service, and reload."""

from __future__ import annotations

from aiohttp import web

from callcenter.users.roles import Role
from callcenter.web.auth import allowed
from callcenter.web.keys import IVR
from callcenter.web.openapi import documented
from callcenter.web.schemas import IvrInvalid, IvrOut, IvrReloaded

READERS = frozenset({Role.OPS, Role.SUPERVISOR, Role.ADMIN})
RELOADERS = frozenset({Role.OPS, Role.ADMIN})


@documented("The IVR flow set in service", tags=("ivr",), roles=READERS, response=IvrOut)
async def current(request: web.Request) -> web.Response:
    await allowed(request, READERS, "read the IVR flows")
    runtime = request.app[IVR].current
    return web.json_response(
        {
            "version": runtime.version,
            "flows": {
                name: {"numbers": flow.numbers, "start": flow.start, "nodes": len(flow.nodes)}
                for name, flow in runtime.flows.flows.items()
            },
        }
    )


@documented(
    "Reload flows, queues, calendar and lookup data from disk; an invalid set is refused",
    tags=("ivr",),
    roles=RELOADERS,
    response=IvrReloaded,
    errors={422: ("Refused; every error with file:line:column", IvrInvalid)},
)
async def reload(request: web.Request) -> web.Response:
    await allowed(request, RELOADERS, "reload the IVR")
    result = request.app[IVR].reload()
    if not result.ok:
        body = {
            "type": "about:blank",
            "title": "Invalid IVR flows",
            "status": 422,
            "detail": "the flow set in service is unchanged",
            "version": result.version,
            "errors": list(result.errors),
            "instance": request.path,
        }
        return web.json_response(body, status=422, content_type="application/problem+json")
    return web.json_response({"version": result.version, "warnings": list(result.warnings)})
