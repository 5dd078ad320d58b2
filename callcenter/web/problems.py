"""Errors become ``application/problem+json`` here, once, by class hierarchy."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from callcenter.acd.agents import IllegalAgentTransition, UnknownAgent
from callcenter.ari.errors import AriConflict, AriError, AriNotFound, AriUnavailable
from callcenter.ari.inbox import ChannelGone
from callcenter.audit.access_log import AccessLogUnavailable, ReasonRequired
from callcenter.calls.conversation import CallBusy, ConversationError, NoSuchConversation
from callcenter.calls.state import IllegalTransition
from callcenter.directory import DestinationRefused
from callcenter.errors import CallCenterError, ConfigError
from callcenter.ratelimit import RateLimited
from callcenter.spreadsheets import TooManyRows
from callcenter.tickets.errors import TicketChanged, TicketInvalid, TicketNotFound
from callcenter.tickets.knowledge import KbChanged, KbInvalid, KbNotFound
from callcenter.tickets.workflow import IllegalTicketTransition, NotPermitted
from callcenter.users.errors import (
    NoSeat,
    TooManyAttempts,
    Unauthorized,
    UserConflict,
    UserError,
    UserNotFound,
)
from callcenter.users.passwords import LoginBusy
from callcenter.web.requests import RequestUnprocessable

log = logging.getLogger(__name__)

# Deadlock detected, serialization failure: the loser may simply try again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})

# Most specific first.
_STATUS: list[tuple[type[CallCenterError], int]] = [
    (AriNotFound, 404),
    (AriConflict, 409),
    (ChannelGone, 409),
    (IllegalTransition, 409),
    (IllegalTicketTransition, 409),
    (NotPermitted, 403),
    (RateLimited, 429),
    (DestinationRefused, 403),
    (TicketNotFound, 404),
    (TicketChanged, 409),
    (KbNotFound, 404),
    (KbChanged, 409),
    (Unauthorized, 401),
    (TooManyAttempts, 429),
    (LoginBusy, 503),
    (UserNotFound, 404),
    (UserConflict, 409),
    (NoSeat, 409),
    (UnknownAgent, 404),
    (NoSuchConversation, 404),
    (CallBusy, 503),
    (ConversationError, 409),
    (IllegalAgentTransition, 409),
    (AriUnavailable, 503),
    (AccessLogUnavailable, 503),
    (TooManyRows, 422),
    (AriError, 502),
    (ConfigError, 400),
    # Valid by the API document, refused by a rule it cannot state (a category
    # that does not exist, dates out of order, a reason this role owes): 422.
    # 400 is kept for requests that break the document's schema.
    (ReasonRequired, 422),
    (RequestUnprocessable, 422),
    (TicketInvalid, 422),
    (KbInvalid, 422),
    (UserError, 422),
    (CallCenterError, 400),
]


def problem(
    status: int, title: str, detail: str | None = None, instance: str | None = None
) -> web.Response:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    return web.json_response(body, status=status, content_type="application/problem+json")


def status_for(exc: CallCenterError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(
            exc.status, exc.reason, exc.text if exc.text != exc.reason else None, request.path
        )
    except CallCenterError as exc:
        response = problem(status_for(exc), exc.title, str(exc), request.path)
        retry_after = getattr(exc, "retry_after", None)  # 429/503: when to come back
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return problem(
                409,
                "Conflicting change",
                "another change to the same records was made at the same moment: try again",
                request.path,
            )
        log.exception("database error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", None, request.path)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal Server Error", None, request.path)
