"""The routes' side of the access log: who reads (user, role, client address,
``?reason=``) and one row per answer carrying personal data, written and
committed before the answer is sent (see :mod:`callcenter.audit.access_log`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from callcenter.audit.access_log import (
    AccessLogUnavailable,
    Action,
    Entry,
    Reader,
    Subject,
    clean_reason,
)
from callcenter.db.models import Ticket
from callcenter.users.roles import Actor
from callcenter.web.client import client_address
from callcenter.web.keys import ACCESS_LOG, SETTINGS
from callcenter.web.ticket_views import sees_personal_data

# The OpenAPI description of ?reason= on every logged route.
REASON_PARAMETER: dict[str, Any] = {
    "name": "reason",
    "in": "query",
    "required": False,
    "description": "Why you read this (recorded in the access log): required for "
    "auditors and for every export",
    "schema": {"type": "string", "maxLength": 500},
}
# Where a reason is always owed (exports): something other than blanks.
REQUIRED_REASON_PARAMETER: dict[str, Any] = {
    **REASON_PARAMETER,
    "required": True,
    "schema": {"type": "string", "maxLength": 500, "pattern": r"\S"},
}
# The answer of every route that logs a read (documented(errors=...)).
LOG_DOWN = {503: "The access log cannot be written: no personal data is sent"}


def reader(request: web.Request, who: Actor, action: Action) -> Reader:
    """The reader behind ``request``, from the address a trusted proxy names or
    the peer's; refused naming ``reason`` when one is owed."""
    address = client_address(request, request.app[SETTINGS].http.trusted_proxies)
    found = Reader(who.name, who.role, address, clean_reason(request.query.get("reason")))
    found.check_reason(action)
    return found


async def record(
    request: web.Request,
    reader: Reader,
    subject: Subject,
    action: Action,
    *,
    subject_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    after_change: bool = False,
) -> None:
    """Commit the row; AccessLogUnavailable (503) if it cannot be written.

    ``after_change``: the answer to a change already saved, which the message says.
    """
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    about = {"route": f"{request.method} {route}", **(detail or {})}
    entry = Entry(reader, subject, action, subject_id, about)
    try:
        await request.app[ACCESS_LOG].record(entry)
    except AccessLogUnavailable as exc:
        if not after_change:
            raise
        raise AccessLogUnavailable(
            f"the change was saved, but its result is not shown: {exc}"
        ) from exc


def tickets_shown(who: Actor, tickets: Iterable[Ticket]) -> dict[str, Any]:
    """The ids of the tickets in an answer and how many of them carried personal data unmasked."""
    shown = list(tickets)
    return {
        "ids": [str(t.id) for t in shown],
        "unmasked": sum(1 for t in shown if sees_personal_data(who, t)),
    }


async def ticket_read(
    request: web.Request, who: Actor, reader: Reader, ticket: Ticket, *, after_change: bool = False
) -> None:
    """One ticket shown (its page, its audit trail, the answer to a change)."""
    await record(
        request,
        reader,
        Subject.TICKET,
        Action.READ,
        subject_id=str(ticket.id),
        detail=tickets_shown(who, [ticket]),
        after_change=after_change,
    )


async def ticket_changed(request: web.Request, who: Actor, ticket: Ticket) -> None:
    """The answer to a change already saved shows the ticket: on record as a read too."""
    await ticket_read(request, who, reader(request, who, Action.READ), ticket, after_change=True)
