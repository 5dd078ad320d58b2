"""``GET /api/v1/directory``: where an agent may send a call (the department
directory in service and the roster's seats), with the ``to`` each takes."""

from __future__ import annotations

from aiohttp import web

from callcenter.users.roles import Role
from callcenter.web.auth import allowed
from callcenter.web.keys import ACD, IVR
from callcenter.web.openapi import documented
from callcenter.web.schemas import Out

READERS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


class DepartmentLines(Out):
    code: str
    name: str
    number: str
    to: str  # what POST /api/v1/calls/{call_id}/transfer takes for the desk
    duty: str | None  # the duty line (值班电话)
    duty_to: str | None


class Seat(Out):
    id: str
    name: str
    to: str


class DirectoryOut(Out):
    departments: list[DepartmentLines]
    agents: list[Seat]


@documented(
    "The department directory and the seats: every destination a call may be sent to",
    tags=("calls",),
    roles=READERS,
    response=DirectoryOut,
    description="A transfer's `to` is one of these (or a department's number); "
    "anything else is refused with 403, logged and counted in /metrics.",
)
async def directory(request: web.Request) -> web.Response:
    await allowed(request, READERS, "read the directory")
    entries = request.app[IVR].current.directory.entries.values()
    body = DirectoryOut(
        departments=[
            DepartmentLines(
                code=e.code,
                name=e.name,
                number=e.number,
                to=f"dept:{e.code}",
                duty=e.duty,
                duty_to=f"dept:{e.code}/duty" if e.duty else None,
            )
            for e in entries
        ],
        agents=[
            Seat(id=a.id, name=a.config.name, to=f"agent:{a.id}")
            for a in sorted(request.app[ACD].agents.values(), key=lambda a: a.id)
        ],
    )
    return web.json_response(body.model_dump())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/directory", directory)
