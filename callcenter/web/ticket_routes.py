"""Work orders over HTTP: create, read, act; and the citizen's public lookup.

Personal data is shown only to the centre's roles that need it, and never
for a confidential ticket except to supervisors and admins.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.db.models import Ticket
from callcenter.tickets.deadlines import Nature, colour
from callcenter.tickets.service import ActionRequest, Actor, NewTicket, TicketNotFound
from callcenter.tickets.workflow import Action, Role, TicketStatus, allowed_actions
from callcenter.web.auth import actor
from callcenter.web.keys import TICKETS
from callcenter.web.openapi import documented
from callcenter.web.requests import RequestInvalid, parse_body

SEES_PERSONAL_DATA = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
SEES_CONFIDENTIAL = frozenset({Role.SUPERVISOR, Role.ADMIN})


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


def _mask(value: str, keep: int = 1) -> str:
    return value[:keep] + "*" * max(0, len(value) - keep) if value else value


def view(ticket: Ticket, who: Actor, tickets_service: Any) -> dict[str, Any]:
    personal = who.role in SEES_PERSONAL_DATA and (
        not ticket.confidential or who.role in SEES_CONFIDENTIAL
    )
    phone = ticket.caller_phone
    started = ticket.updated_at
    return {
        "id": str(ticket.id),
        "query_code": ticket.query_code,
        "channel": ticket.channel,
        "nature": ticket.nature,
        "subject": ticket.subject,
        "content": ticket.content,
        "caller_name": ticket.caller_name if personal else _mask(ticket.caller_name),
        "caller_phone": phone
        if personal
        else (phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else _mask(phone, 0)),
        "address": ticket.address if personal else _mask(ticket.address, 2),
        "district": ticket.district,
        "confidential": ticket.confidential,
        "status": ticket.status,
        "version": ticket.version,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "colour": colour(
            tickets_service.deadlines, started, ticket.due_at, tickets_service.clock()
        ).value
        if ticket.due_at
        else None,
        "actions": [a.value for a in allowed_actions(TicketStatus(ticket.status), who.role)],
        "created_at": ticket.created_at.isoformat(),
    }


def _ticket_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["ticket_id"])
    except ValueError as exc:
        raise RequestInvalid(f"{request.path}: not a ticket id") from exc


@documented(
    "Create a work order (during a call: pass call_id)",
    tags=("tickets",),
    request_body={"content": {"application/json": {"schema": TicketIn.model_json_schema()}}},
    public=False,
)
async def create(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, TicketIn)
    service = request.app[TICKETS]
    new = NewTicket(**body.model_dump(exclude={"call_id"}))
    ticket = await service.create(who, new, call_id=body.call_id)
    return web.json_response(view(ticket, who, service), status=201)


@documented("One work order (personal data masked by role)", tags=("tickets",), public=False)
async def get(request: web.Request) -> web.Response:
    who = await actor(request)
    service = request.app[TICKETS]
    return web.json_response(view(await service.get(who, _ticket_id(request)), who, service))


@documented("Its audit trail", tags=("tickets",), public=False)
async def events(request: web.Request) -> web.Response:
    who = await actor(request)
    trail = await request.app[TICKETS].events(who, _ticket_id(request))
    return web.json_response(
        [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "before": e.before,
                "after": e.after,
                "detail": e.detail,
            }
            for e in trail
        ]
    )


@documented(
    "A workflow step (dispatch, accept, object, reply, callback, ...)",
    tags=("tickets",),
    request_body={"content": {"application/json": {"schema": ActionIn.model_json_schema()}}},
    public=False,
)
async def act(request: web.Request) -> web.Response:
    who = await actor(request)
    body = await parse_body(request, ActionIn)
    service = request.app[TICKETS]
    ticket = await service.act(who, _ticket_id(request), ActionRequest(**body.model_dump()))
    return web.json_response(view(ticket, who, service))


@documented(
    "A citizen's lookup: the status of a request by query code and phone",
    tags=("public",),
    responses={"200": {"description": "Status only"}, "404": {"description": "None"}},
)
async def public_lookup(request: web.Request) -> web.Response:
    found = await request.app[TICKETS].public_status(
        request.match_info["query_code"], request.query.get("phone", "")
    )
    if found is None:
        raise TicketNotFound("no request with that query code and phone number")
    return web.json_response(found)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/tickets", create)
    app.router.add_get("/api/v1/tickets/{ticket_id}", get)
    app.router.add_get("/api/v1/tickets/{ticket_id}/events", events)
    app.router.add_post("/api/v1/tickets/{ticket_id}/actions", act)
    app.router.add_get("/api/v1/public/tickets/{query_code}", public_lookup)
