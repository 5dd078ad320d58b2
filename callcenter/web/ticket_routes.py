"""Work orders over HTTP: create, read, search, export, act; the public lookup."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated, Any, cast

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from callcenter import spreadsheets
from callcenter.audit import access_log as audit
from callcenter.db.models import Ticket
from callcenter.ratelimit import RateLimited
from callcenter.tickets import export
from callcenter.tickets.changes import ActionRequest, NewTicket
from callcenter.tickets.codes import is_valid_query_code
from callcenter.tickets.deadlines import Nature
from callcenter.tickets.errors import TicketNotFound
from callcenter.tickets.finder import DuplicateCandidate
from callcenter.tickets.search import TicketQuery
from callcenter.tickets.workflow import Action
from callcenter.users.roles import CENTRE, DEPARTMENT, Actor, Role
from callcenter.web.access import (
    LOG_DOWN,
    REASON_PARAMETER,
    REQUIRED_REASON_PARAMETER,
    reader,
    record,
    ticket_changed,
    ticket_read,
    tickets_shown,
)
from callcenter.web.auth import actor
from callcenter.web.client import client_address, limit_key
from callcenter.web.files import EXPORT_DOCUMENTED, Sheet, export_on_record
from callcenter.web.keys import FINDER, LOOKUP_GUARD, RECORDER, SETTINGS, TICKETS
from callcenter.web.openapi import documented
from callcenter.web.requests import RequestInvalid, parse_body, parse_query
from callcenter.web.responses import json_ok
from callcenter.web.schemas import (
    DuplicateOut,
    PublicStatus,
    TicketCreated,
    TicketDetail,
    TicketEventOut,
    TicketOut,
    TicketPage,
)
from callcenter.web.ticket_views import (
    dispatch_view,
    event_view,
    sees_personal_data,
    ticket_view,
    view,
)

# How long a create waits for the call's own row before saying "no call".
RECORDER_WAIT_SECONDS = 5.0

# Who may use a route (its x-roles); the ticket service refuses the others.
READERS = frozenset(Role) - {Role.OPS}  # ops users do not read work orders
WORKFLOW = CENTRE | DEPARTMENT
TICKET_PATH = {"ticket_id": uuid.UUID}
CHANGED = {409: "Not possible in the ticket's state, or changed meanwhile (expected_version)"}
PHONE_PARAMETER = {
    "name": "phone",
    "in": "query",
    "required": False,
    "description": "The phone number given when the request was made",
    "schema": {"type": "string"},
}


class TicketIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field("phone", pattern=r"^(phone|voicemail|sms|web|email)$")
    nature: Nature
    subject: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20000)
    caller_name: str = Field("", max_length=64)
    caller_phone: str = Field("", pattern=r"^[0-9+\-]{0,32}$")
    address: str = Field("", max_length=256)
    district: str = Field("", max_length=64)
    confidential: bool = False
    priority: int = Field(0, ge=0, le=10)
    category_code: str | None = Field(None, max_length=32)
    call_id: uuid.UUID | None = None  # the call it was taken on


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    expected_version: int | None = None
    department: str | None = None
    co_handlers: list[str] = Field(default_factory=list)
    text: str | None = Field(None, max_length=20000)
    rating: str | None = None
    merge_into: uuid.UUID | None = None
    extension_days: int = Field(0, ge=0, le=60)
    kb_entry_id: int | None = Field(None, ge=1, le=2**63 - 1)
    flag: str | None = Field(None, pattern=r"^[a-z_]{1,16}$")


class TicketPatch(BaseModel):
    """Fields to change; only those sent change. ``expected_version`` is required."""

    model_config = ConfigDict(extra="forbid")

    # Only category_code may be sent as null (no category); the schema says so.
    expected_version: int
    nature: Nature | SkipJsonSchema[None] = None
    category_code: str | None = Field(None, max_length=32)
    subject: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    content: Annotated[str, Field(min_length=1, max_length=20000)] | SkipJsonSchema[None] = None
    caller_name: Annotated[str, Field(max_length=64)] | SkipJsonSchema[None] = None
    caller_phone: Annotated[str, Field(pattern=r"^[0-9+\-]{0,32}$")] | SkipJsonSchema[None] = None
    address: Annotated[str, Field(max_length=256)] | SkipJsonSchema[None] = None
    district: Annotated[str, Field(max_length=64)] | SkipJsonSchema[None] = None
    confidential: bool | SkipJsonSchema[None] = None
    priority: Annotated[int, Field(ge=0, le=10)] | SkipJsonSchema[None] = None


class DuplicatesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    caller_phone: str = Field("", max_length=32)
    address: str = Field("", max_length=256)
    content: str = Field("", max_length=20000)
    exclude: uuid.UUID | None = None  # the ticket itself, when asking about a stored one


class LinkCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: uuid.UUID


class ExportQuery(TicketQuery):
    format: spreadsheets.Format = spreadsheets.Format.CSV
    # An export has every page: paging is not in its document (and is ignored).
    page: SkipJsonSchema[int] = 1
    per_page: SkipJsonSchema[int] = 50


# Not filters: who reads says why (access log); an export has no pages.
NOT_FILTERS = frozenset({"reason"})
EXPORT_NOT_FILTERS = NOT_FILTERS | {"page", "per_page"}
TICKET_SHEET = Sheet("tickets", export.SHEET_TITLE, export.HEADINGS, export.LIMIT_SETTING)


def candidates_view(
    request: web.Request, found: list[DuplicateCandidate], who: Actor
) -> list[dict[str, Any]]:
    return [
        {
            # Scored on the wording alone when the caller is masked for ``who``
            # (callcenter.tickets.duplicates): a guessed phone moves nothing.
            "score": c.score.score,
            "text": c.score.text,
            # Whether a confidential caller has this number is itself personal data.
            "same_phone": c.score.same_phone if sees_personal_data(who, c.ticket) else None,
            "same_place": c.score.same_place if sees_personal_data(who, c.ticket) else None,
            "ticket": view(request, c.ticket, who),
        }
        for c in found
    ]


def _ticket_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["ticket_id"])
    except ValueError as exc:
        raise RequestInvalid(f"{request.path}: not a ticket id") from exc


@documented(
    "Create a work order (during a call: pass call_id); likely duplicates come back with it",
    tags=("tickets",),
    roles=CENTRE,
    body=TicketIn,
    response=TicketCreated,
    status=201,
    errors=LOG_DOWN,
)
async def create(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, TicketIn)
    if body.call_id is not None:
        # Taken during the call: its row may still be in the record writer's batch.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECORDER_WAIT_SECONDS):
                await request.app[RECORDER].flush()
    ticket = await request.app[TICKETS].create(
        who, NewTicket(**body.model_dump(exclude={"call_id"})), call_id=body.call_id
    )
    found = await request.app[FINDER].duplicates(
        who,
        phone=ticket.caller_phone,
        address=ticket.address,
        content=ticket.content,
        exclude=ticket.id,
    )
    # The new ticket echoes what was typed; the duplicates are other citizens' tickets.
    shown = tickets_shown(who, [c.ticket for c in found])
    await record(
        request,
        reader(request, who, audit.Action.READ),
        audit.Subject.TICKET,
        audit.Action.READ,
        subject_id=str(ticket.id),
        detail={**shown, "created": True},
        after_change=True,
    )
    return json_ok(
        {**view(request, ticket, who), "duplicates": candidates_view(request, found, who)},
        status=201,
    )


@documented(
    "Search work orders: filters combine; paged and sorted",
    tags=("tickets",),
    roles=READERS,
    query=TicketQuery,
    parameters=[REASON_PARAMETER],
    response=TicketPage,
    errors=LOG_DOWN,
)
async def search(request: web.Request) -> web.Response:
    who = await actor(request)
    reading = reader(request, who, audit.Action.SEARCH)
    query = parse_query(request, TicketQuery, ignore=NOT_FILTERS)
    found = await request.app[FINDER].search(who, query)
    await record(
        request,
        reading,
        audit.Subject.TICKET,
        audit.Action.SEARCH,
        detail={
            "filters": query.model_dump(mode="json", exclude_defaults=True),
            "total": found.total,
            **tickets_shown(who, found.tickets),
        },
    )
    return json_ok(
        {
            "total": found.total,
            "page": query.page,
            "per_page": query.per_page,
            "tickets": [view(request, t, who) for t in found.tickets],
        }
    )


@documented(
    "Export the search as CSV or XLSX (all pages; personal data masked as on screen). "
    "A reason is required. More rows than tickets.export_max_rows: refused (422), never cut",
    tags=("tickets",),
    roles=READERS,
    query=ExportQuery,
    parameters=[REQUIRED_REASON_PARAMETER],
    responses={
        "200": EXPORT_DOCUMENTED,
        "400": {"description": "No reason, or a filter invalid (named)"},
        "422": {"description": "More rows match than tickets.export_max_rows"},
        "503": {"description": "The access log cannot be written: nothing is sent"},
    },
)
async def export_tickets(request: web.Request) -> web.StreamResponse:
    """Built in a worker thread into an anonymous temporary file, put on record
    with its row count, then streamed: a big export never holds the calls' loop."""
    who = await actor(request)
    reading = reader(request, who, audit.Action.EXPORT)
    query = parse_query(request, ExportQuery, ignore=EXPORT_NOT_FILTERS)
    finder, service = request.app[FINDER], request.app[TICKETS]
    deadlines, now = service.deadlines, service.clock()

    def cells(row: Any) -> list[str]:
        # A row of every ticket column reads like a Ticket: the screen's own view.
        return export.cells(ticket_view(cast(Ticket, row), who, deadlines, now))

    return await export_on_record(
        request,
        reading,
        audit.Subject.TICKET,
        TICKET_SHEET,
        total=await finder.count(who, query),
        cap=request.app[SETTINGS].tickets.export_max_rows,
        batches=lambda limit: finder.batches(who, query, limit=limit),
        cells=cells,
        fmt=query.format,
        filters=query.model_dump(
            mode="json", exclude_defaults=True, exclude={"page", "per_page", "format"}
        ),
    )


@documented(
    "判重: open tickets likely about the same matter, ranked by score",
    tags=("tickets",),
    roles=CENTRE,
    body=DuplicatesIn,
    response=list[DuplicateOut],
    errors=LOG_DOWN,
)
async def duplicates(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, DuplicatesIn)
    found = await request.app[FINDER].duplicates(
        who,
        phone=body.caller_phone,
        address=body.address,
        content=body.content,
        exclude=body.exclude,
    )
    await record(
        request,
        reader(request, who, audit.Action.LIST),
        audit.Subject.TICKET,
        audit.Action.LIST,
        detail=tickets_shown(who, [c.ticket for c in found]),
    )
    return json_ok(candidates_view(request, found, who))


@documented(
    "One work order (personal data masked by role) with its dispatches and their colours",
    tags=("tickets",),
    roles=READERS,
    path=TICKET_PATH,
    parameters=[REASON_PARAMETER],
    response=TicketDetail,
    errors=LOG_DOWN,
)
async def get(request: web.Request) -> web.Response:
    who = await actor(request)
    reading = reader(request, who, audit.Action.READ)
    service, ticket_id = request.app[TICKETS], _ticket_id(request)
    ticket = await service.get(who, ticket_id)
    dispatches = await service.dispatches(who, ticket_id)
    now = service.clock()
    await ticket_read(request, who, reading, ticket)
    return json_ok(
        {
            **view(request, ticket, who),
            "dispatches": [dispatch_view(d, service.deadlines, now) for d in dispatches],
        }
    )


@documented(
    "Its audit trail (personal data in it masked as on the ticket)",
    tags=("tickets",),
    roles=READERS,
    path=TICKET_PATH,
    parameters=[REASON_PARAMETER],
    response=list[TicketEventOut],
    errors=LOG_DOWN,
)
async def events(request: web.Request) -> web.Response:
    who = await actor(request)
    reading = reader(request, who, audit.Action.READ)
    service, ticket_id = request.app[TICKETS], _ticket_id(request)
    ticket = await service.get(who, ticket_id)
    trail = await service.events(who, ticket_id)
    await ticket_read(request, who, reading, ticket)
    personal = sees_personal_data(who, ticket)
    return json_ok([event_view(e, personal) for e in trail])


@documented(
    "A workflow step (dispatch, accept, object, reply, callback, merge, extension, ...)",
    tags=("tickets",),
    roles=WORKFLOW,
    path=TICKET_PATH,
    body=ActionIn,
    response=TicketOut,
    errors={**CHANGED, **LOG_DOWN},
)
async def act(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, ActionIn)
    ticket = await request.app[TICKETS].act(
        who, _ticket_id(request), ActionRequest(**body.model_dump())
    )
    await ticket_changed(request, who, ticket)
    return json_ok(view(request, ticket, who))


@documented(
    "Complete or correct a ticket still with the centre (e.g. a voicemail stub)",
    tags=("tickets",),
    roles=CENTRE,
    path=TICKET_PATH,
    body=TicketPatch,
    response=TicketOut,
    errors={**CHANGED, **LOG_DOWN},
)
async def edit(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, TicketPatch)
    changes = body.model_dump(exclude_unset=True, exclude={"expected_version"})
    for key, value in changes.items():
        if value is None and key != "category_code":
            raise RequestInvalid(f"PATCH {request.path}: {key}: may not be null")
    if "nature" in changes:
        changes["nature"] = changes["nature"].value
    ticket = await request.app[TICKETS].edit(
        who, _ticket_id(request), changes, body.expected_version
    )
    await ticket_changed(request, who, ticket)
    return json_ok(view(request, ticket, who))


@documented(
    "Link another call about the same matter",
    tags=("tickets",),
    roles=CENTRE,
    path=TICKET_PATH,
    body=LinkCallIn,
    status=204,
    responses={"204": {"description": "Linked"}},
)
async def link_call(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, LinkCallIn)
    await request.app[TICKETS].link_call(who, _ticket_id(request), body.call_id)
    return web.Response(status=204)


@documented(
    "A citizen's lookup: the status of a request by query code and phone",
    tags=("public",),
    public=True,
    parameters=[PHONE_PARAMETER],
    response=PublicStatus,
    responses={
        "200": {"description": "Status only"},
        "404": {"description": "None"},
        "429": {
            "description": "Too many lookups from this address, or too many wrong ones for "
            "this query code (which then stays locked a while, right phone or not)",
            "headers": {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            },
        },
    },
)
async def public_lookup(request: web.Request) -> web.Response:
    """Counted per client address and per query code before the answer is known,
    so a guesser cannot find the rest of a masked phone by trying."""
    code = request.match_info["query_code"]
    address = client_address(request, request.app[SETTINGS].http.trusted_proxies)
    client, target = f"ip:{limit_key(address)}", code if is_valid_query_code(code) else None
    guard = request.app[LOOKUP_GUARD]
    if (wait := guard.attempt(client, target)) > 0:
        raise RateLimited("too many lookups from here or for this code: try again later", wait)
    found = await request.app[TICKETS].public_status(code, request.query.get("phone", ""))
    if found is None:
        raise TicketNotFound("no request with that query code and phone number")
    guard.succeeded(client, target)
    return json_ok(found)


def add_routes(app: web.Application) -> None:
    # Fixed paths before /tickets/{ticket_id}, which would match them too.
    app.router.add_get("/api/v1/tickets", search)
    app.router.add_post("/api/v1/tickets", create)
    app.router.add_get("/api/v1/tickets/export", export_tickets)
    app.router.add_post("/api/v1/tickets/duplicates", duplicates)
    app.router.add_get("/api/v1/tickets/{ticket_id}", get)
    app.router.add_patch("/api/v1/tickets/{ticket_id}", edit)
    app.router.add_get("/api/v1/tickets/{ticket_id}/events", events)
    app.router.add_post("/api/v1/tickets/{ticket_id}/actions", act)
    app.router.add_post("/api/v1/tickets/{ticket_id}/calls", link_call)
    app.router.add_get("/api/v1/public/tickets/{query_code}", public_lookup)
