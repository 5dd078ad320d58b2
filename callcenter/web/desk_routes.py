"""The ticket desk around the tickets: catalogue and suggestions, knowledge base,
callbacks due, supervision."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.audit.access_log import Action, Subject
from callcenter.db.models import KbEntry
from callcenter.tickets.knowledge import KbDraft
from callcenter.tickets.search import Day
from callcenter.tickets.supervision import Reason
from callcenter.users.roles import CENTRE, Role
from callcenter.web.access import LOG_DOWN, REASON_PARAMETER, reader, record, tickets_shown
from callcenter.web.auth import actor, allowed
from callcenter.web.keys import CATALOGUE, FINDER, KNOWLEDGE, SWEEP, TICKETS
from callcenter.web.openapi import documented
from callcenter.web.requests import RequestInvalid, RequestUnprocessable, parse_body, parse_query
from callcenter.web.responses import json_ok
from callcenter.web.schemas import (
    CallbackOut,
    CategoryOut,
    DepartmentOut,
    KbEntryOut,
    SuggestionOut,
    SupervisionOut,
    SweepOut,
)
from callcenter.web.ticket_views import mask_phone, sees_personal_data, view

KB_EDITORS = frozenset({Role.SUPERVISOR, Role.OPS, Role.ADMIN})
SWEEPERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
ANYONE = frozenset(Role)  # any signed-in user
ENTRY_PATH = {"entry_id": Annotated[int, Field(ge=1, lt=2**63)]}


class SuggestQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(None, max_length=32)
    district: str = Field("", max_length=64)


class KbQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=200)
    on: Day | None = None  # valid on this day (default: today)
    limit: int = Field(10, ge=1, le=50)


class KbIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(min_length=1, max_length=20000)
    valid_from: date
    valid_to: date | None = None
    department_code: str | None = Field(None, max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=20)
    expected_version: int | None = None  # required when changing an entry

    def draft(self) -> KbDraft:
        return KbDraft(
            question=self.question,
            answer=self.answer,
            valid_from=self.valid_from,
            valid_to=self.valid_to,
            department_code=self.department_code,
            tags=tuple(self.tags),
        )


class KbChange(KbIn):
    expected_version: int  # the version you read: a change made meanwhile is refused


class SupervisionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Which 督办 reasons (overdue, flagged, ...); ?reason= is why you read, as on every
    # route that shows personal data (the access log).
    kind: list[Reason] = Field(default_factory=list)
    include_resolved: bool = False


class CallbacksQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_code: str | None = Field(default=None, pattern=r"^[0-9]{1,32}$")
    limit: int = Field(default=100, ge=1, le=1000)


def kb_view(entry: KbEntry, rank: float | None = None) -> dict[str, object]:
    return {
        "id": entry.id,
        "question": entry.question,
        "answer": entry.answer,
        "department_code": entry.department_code,
        "tags": entry.tags,
        "valid_from": entry.valid_from.isoformat(),
        "valid_to": entry.valid_to.isoformat() if entry.valid_to else None,
        "version": entry.version,
        "updated_by": entry.updated_by,
        **({"rank": round(rank, 4)} if rank is not None else {}),
    }


@documented(
    "Departments (承办单位), a tree with the districts each serves",
    tags=("desk",),
    roles=ANYONE,
    response=list[DepartmentOut],
)
async def departments(request: web.Request) -> web.Response:
    await actor(request)
    return json_ok(
        [
            {"code": d.code, "name": d.name, "parent": d.parent, "districts": list(d.districts)}
            for d in request.app[CATALOGUE].departments.values()
        ]
    )


@documented(
    "The category catalogue, a tree with codes",
    tags=("desk",),
    roles=ANYONE,
    response=list[CategoryOut],
)
async def categories(request: web.Request) -> web.Response:
    await actor(request)
    return json_ok(
        [
            {"code": c.code, "name": c.name, "parent": c.parent, "departments": list(c.departments)}
            for c in request.app[CATALOGUE].categories.values()
        ]
    )


@documented(
    "Who should handle it: the lead and co-handlers for a category and district (属地优先)",
    tags=("desk",),
    roles=ANYONE,
    query=SuggestQuery,
    response=SuggestionOut,
)
async def suggest(request: web.Request) -> web.Response:
    await actor(request)
    query = parse_query(request, SuggestQuery)
    catalogue = request.app[CATALOGUE]
    if query.category and query.category not in catalogue.categories:
        raise RequestUnprocessable(f"{request.path}: category: no category {query.category!r}")
    found = catalogue.suggest(query.category, query.district)
    return json_ok({"lead": found.lead, "co_handlers": list(found.co_handlers), "why": found.why})


@documented(
    "Search the knowledge base (Chinese full text), best first",
    tags=("knowledge",),
    roles=ANYONE,
    query=KbQuery,
    response=list[KbEntryOut],
)
async def kb_search(request: web.Request) -> web.Response:
    await actor(request)
    query = parse_query(request, KbQuery)
    tickets = request.app[TICKETS]
    day = query.on or tickets.calendar.local(tickets.clock()).date()
    hits = await request.app[KNOWLEDGE].search(query.q, day, query.limit)
    return json_ok([kb_view(h.entry, h.rank) for h in hits])


@documented(
    "One knowledge base entry",
    tags=("knowledge",),
    roles=ANYONE,
    path=ENTRY_PATH,
    response=KbEntryOut,
)
async def kb_get(request: web.Request) -> web.Response:
    await actor(request)
    return json_ok(kb_view(await request.app[KNOWLEDGE].get(_entry_id(request))))


@documented(
    "Add a knowledge base entry (supervisor, ops, admin)",
    tags=("knowledge",),
    roles=KB_EDITORS,
    body=KbIn,
    response=KbEntryOut,
    status=201,
)
async def kb_add(request: web.Request) -> web.Response:
    who = await _editor(request)
    body = await parse_body(request, KbIn)
    return json_ok(kb_view(await request.app[KNOWLEDGE].add(who, body.draft())), status=201)


@documented(
    "Change a knowledge base entry (send the version you read as expected_version)",
    tags=("knowledge",),
    roles=KB_EDITORS,
    path=ENTRY_PATH,
    body=KbChange,
    response=KbEntryOut,
    errors={409: "Changed meanwhile: read it again (expected_version)"},
)
async def kb_update(request: web.Request) -> web.Response:
    who = await _editor(request)
    body = await parse_body(request, KbChange)
    entry = await request.app[KNOWLEDGE].update(
        who, _entry_id(request), body.draft(), body.expected_version
    )
    return json_ok(kb_view(entry))


@documented(
    "回访 tasks waiting, the most urgent first",
    tags=("desk",),
    roles=CENTRE,
    query=CallbacksQuery,
    parameters=[REASON_PARAMETER],
    response=list[CallbackOut],
    errors=LOG_DOWN,
)
async def callbacks(request: web.Request) -> web.Response:
    who = await actor(request)
    reading = reader(request, who, Action.LIST)
    query = parse_query(request, CallbacksQuery, ignore=frozenset({"reason"}))
    rows = await request.app[FINDER].callbacks_due(
        who, query_code=query.query_code, limit=query.limit
    )
    shown = tickets_shown(who, [ticket for _, ticket in rows])
    await record(request, reading, Subject.TICKET, Action.LIST, detail=shown)
    return json_ok(
        [
            {
                "id": task.id,
                "ticket_id": str(ticket.id),
                "query_code": ticket.query_code,
                "subject": ticket.subject,
                "caller_phone": ticket.caller_phone
                if sees_personal_data(who, ticket)
                else mask_phone(ticket.caller_phone),
                "due_at": task.due_at.isoformat(),
            }
            for task, ticket in rows
        ]
    )


@documented(
    "Tickets under supervision (督办) with their reasons",
    tags=("desk",),
    roles=frozenset(Role) - {Role.OPS},
    query=SupervisionQuery,
    parameters=[REASON_PARAMETER],
    response=list[SupervisionOut],
    errors=LOG_DOWN,
)
async def supervisions(request: web.Request) -> web.Response:
    who = await actor(request)
    reading = reader(request, who, Action.LIST)
    query = parse_query(request, SupervisionQuery, ignore=frozenset({"reason"}))
    rows = await request.app[FINDER].supervisions(
        who,
        include_resolved=query.include_resolved,
        reasons=[r.value for r in query.kind],
    )
    await record(
        request,
        reading,
        Subject.TICKET,
        Action.LIST,
        detail=tickets_shown(who, [row.ticket for row in rows]),
    )
    return json_ok(
        [
            {
                "id": row.record.id,
                "reason": row.record.reason,
                "detail": row.record.detail,
                "opened_by": row.record.opened_by,
                "opened_at": row.record.opened_at.isoformat(),
                "resolved_at": row.record.resolved_at.isoformat()
                if row.record.resolved_at
                else None,
                "ticket": view(request, row.ticket, who),
            }
            for row in rows
        ]
    )


@documented(
    "Evaluate the supervision rules now (they also run on a timer)",
    tags=("desk",),
    roles=SWEEPERS,
    response=SweepOut,
)
async def sweep(request: web.Request) -> web.Response:
    await allowed(request, SWEEPERS, "run the supervision sweep")
    changes = await request.app[SWEEP].run_once()
    return json_ok({"opened": changes.opened, "resolved": changes.resolved})


async def _editor(request: web.Request) -> str:
    return (await allowed(request, KB_EDITORS, "edit the knowledge base")).name


def _entry_id(request: web.Request) -> int:
    raw = request.match_info["entry_id"]
    if not raw.isdigit() or not 1 <= int(raw) < 2**63:
        raise RequestInvalid(f"{request.path}: not an entry id")
    return int(raw)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/departments", departments)
    app.router.add_get("/api/v1/departments/suggest", suggest)
    app.router.add_get("/api/v1/categories", categories)
    app.router.add_get("/api/v1/kb", kb_search)
    app.router.add_post("/api/v1/kb", kb_add)
    app.router.add_get("/api/v1/kb/{entry_id}", kb_get)
    app.router.add_put("/api/v1/kb/{entry_id}", kb_update)
    app.router.add_get("/api/v1/callbacks", callbacks)
    app.router.add_get("/api/v1/supervisions", supervisions)
    app.router.add_post("/api/v1/supervisions/sweep", sweep)
