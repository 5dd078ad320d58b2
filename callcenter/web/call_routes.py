"""Calls over HTTP: the call records, and control of a conversation in progress
(transfer, 三方连线, hold, supervision) for the agent desktop and supervisors.

A handler never drives Asterisk itself: it sends a command to the call's own
task (:meth:`Conversation.ask`) and answers with what that task did, or with
a refusal that says what was not done."""

from __future__ import annotations

import uuid
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from callcenter.audit.access_log import Action, Subject
from callcenter.calls.commands import Hold, Supervise, Transfer
from callcenter.calls.conversation import Conversation, NoSuchConversation
from callcenter.db.models import Call
from callcenter.directory import DESTINATION
from callcenter.tickets.privacy import sees_personal_data
from callcenter.tickets.workflow import NotPermitted
from callcenter.users.errors import NoSeat
from callcenter.users.roles import Actor, Role
from callcenter.web.access import REASON_PARAMETER, reader, record
from callcenter.web.auth import allowed
from callcenter.web.keys import ACD, CONVERSATIONS, DESTINATIONS, SESSIONS, USERS
from callcenter.web.openapi import documented
from callcenter.web.requests import RequestInvalid, parse_body, parse_query
from callcenter.web.schemas import CallRecordOut, HoldOut, SuperviseOut, TransferOut
from callcenter.web.ticket_views import mask_phone


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # From the directory (GET /api/v1/directory): dept:CODE (a department's desk),
    # dept:CODE/duty (its duty line) or one of their numbers; or agent:ID (a seat).
    # Anything else is refused (403): the dial-out trunk dials no free text.
    to: str = Field(pattern=DESTINATION)
    # blind: the agent leaves once it answers; conference: everybody stays (三方连线).
    mode: Literal["blind", "conference"] = "blind"


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool


class SuperviseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["listen", "whisper", "barge"]
    # The supervisor's own seat (users.seat) rings whatever is sent; naming it
    # (agent id or SIP seat) is allowed, naming any other is refused.
    seat: str | None = Field(None, pattern=r"^[0-9A-Za-z_-]{1,40}$")


# Call records carry citizens' numbers: the centre's staff read them; auditors
# see them masked and may not search by them, as on the work orders.
READERS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})
CONTROLLERS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
CALL_PATH = {"call_id": uuid.UUID}
ARI_DOWN = {502: "Asterisk refused the request", 503: "Asterisk is not reachable"}


class CallsQuery(BaseModel):
    """``?caller=&limit=`` of the call records (``reason`` is the access log's)."""

    model_config = ConfigDict(extra="forbid")
    caller: str | None = Field(None, description="The caller's number, exact")
    limit: int = Field(50, description="How many, newest first (1 to 500; beyond is clamped)")


async def _controlled(request: web.Request, doing: str) -> tuple[Actor, Conversation]:
    """Who asks, and the conversation if they may ``doing`` it: an agent only their
    own call."""
    who = await allowed(request, CONTROLLERS, doing)
    conversation = _conversation(request)
    if who.role is Role.AGENT and who.name not in conversation.agents:
        raise NotPermitted(f"agent {who.name} may {doing} only their own calls")
    return who, conversation


async def _own_seat(request: web.Request, who: Actor, named: str | None) -> str:
    """The SIP seat of the supervisor's own agent id (users.seat): the only one that rings."""
    agent_id = await request.app[USERS].seat_of(who.name)
    agent = request.app[ACD].agents.get(agent_id)
    if agent is None:
        raise NoSeat(f"{who.name}'s seat {agent_id} is not in the roster")
    if named not in (None, agent_id, agent.config.seat):
        raise NotPermitted(
            f"{who.name} listens, whispers and barges only from their own seat "
            f"{agent.config.seat} ({agent_id}), not {named}"
        )
    return agent.config.seat


def _conversation(request: web.Request) -> Conversation:
    try:
        call_id = uuid.UUID(request.match_info["call_id"])
    except ValueError as exc:
        raise RequestInvalid(f"{request.path}: not a call id") from exc
    conversation = request.app[CONVERSATIONS].get(call_id)
    if conversation is None:
        raise NoSuchConversation(f"call {call_id} is not talking to an agent now")
    return conversation


PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
CONTROL = {
    "200": {"description": "Done"},
    "404": {"description": "The call is not in a conversation"},
    "409": {
        "description": "Refused, nothing done (nobody answered, agent busy, the call ended ...)",
        "content": PROBLEM,
    },
    "503": {
        "description": "The call was busy with another request (or Asterisk is not "
        "reachable); nothing was done: try again (Retry-After)",
        "content": PROBLEM,
    },
}
TRANSFER = {
    **CONTROL,
    "400": {"description": "`to` is not a destination's form", "content": PROBLEM},
    "403": {
        "description": "Not your call, or `to` is neither in the directory nor a seat "
        "(logged and counted in hotline_transfers_refused_total)",
        "content": PROBLEM,
    },
}


@documented(
    "Transfer (blind) or add a party (三方连线)",
    tags=("calls",),
    roles=CONTROLLERS,
    path=CALL_PATH,
    body=TransferRequest,
    response=TransferOut,
    responses=TRANSFER,
    errors=ARI_DOWN,
)
async def transfer(request: web.Request) -> web.Response:
    who, conversation = await _controlled(request, "transfer a call")
    body = await parse_body(request, TransferRequest)
    destination = request.app[DESTINATIONS].resolve(
        body.to, path="api", who=f"{who.role.value} {who.name}", call_id=conversation.call_id
    )
    done = await conversation.ask(Transfer(destination, blind=body.mode == "blind"))
    return web.json_response(
        {
            "to": body.to,
            "destination": destination.key,
            "number": destination.number,
            "mode": body.mode,
            "agents": done.agents,
        }
    )


@documented(
    "Put the caller on hold (music) or take them back",
    tags=("calls",),
    roles=CONTROLLERS,
    path=CALL_PATH,
    body=HoldRequest,
    response=HoldOut,
    responses=CONTROL,
    errors=ARI_DOWN,
)
async def hold(request: web.Request) -> web.Response:
    _, conversation = await _controlled(request, "put a call on hold")
    body = await parse_body(request, HoldRequest)
    on_hold = await conversation.ask(Hold(body.on))
    return web.json_response({"on_hold": on_hold})


@documented(
    "A supervisor listens, whispers to the agent or barges in, from their own seat",
    tags=("calls",),
    roles=SUPERVISORS,
    path=CALL_PATH,
    body=SuperviseRequest,
    response=SuperviseOut,
    errors=ARI_DOWN,
    responses={
        **CONTROL,
        "403": {"description": "Not a supervisor, or another seat named"},
        "409": {"description": "The supervisor has no seat (users.seat), or nobody answered"},
    },
)
async def supervise(request: web.Request) -> web.Response:
    who = await allowed(request, SUPERVISORS, "listen to, whisper in or barge into calls")
    body = await parse_body(request, SuperviseRequest)
    seat = await _own_seat(request, who, body.seat)
    conversation = _conversation(request)
    # Hearing a citizen's call is reading personal data: on record before it starts.
    await record(
        request,
        reader(request, who, Action.LISTEN),
        Subject.CALL,
        Action.LISTEN,
        subject_id=str(conversation.call_id),
        detail={"mode": body.mode, "seat": seat},
    )
    leg = await conversation.ask(Supervise(body.mode, seat))
    return web.json_response({"mode": body.mode, "supervisor_channel": leg})


@documented(
    "Call records, newest first (filter by caller number); auditors give a reason",
    tags=("calls",),
    roles=READERS,
    query=CallsQuery,
    parameters=[REASON_PARAMETER],
    response=list[CallRecordOut],
    errors={503: "The access log cannot be written: nothing is shown"},
)
async def list_calls(request: web.Request) -> web.Response:
    who = await allowed(request, READERS, "read call records")
    sees = sees_personal_data(who.role, confidential=False)
    if "caller" in request.query and not sees:
        raise NotPermitted(f"{who.role.value} users may not search calls by caller")
    asked = parse_query(request, CallsQuery, ignore=frozenset({"reason"}))
    caller = asked.caller
    action = Action.LIST if caller is None else Action.SEARCH
    reading = reader(request, who, action)
    limit = min(max(asked.limit, 1), 500)
    query = select(Call).order_by(Call.started_at.desc()).limit(limit)
    if caller is not None:
        query = query.where(Call.caller_number == caller)
    async with request.app[SESSIONS]() as session:
        calls = (await session.scalars(query)).all()
    await record(
        request,
        reading,
        Subject.CALL,
        action,
        detail={
            **({"caller": caller} if caller is not None else {}),
            "ids": [str(c.id) for c in calls],
            "unmasked": len(calls) if sees else 0,
        },
    )
    return web.json_response(
        [
            {
                "id": str(c.id),
                "caller": c.caller_number if sees else mask_phone(c.caller_number),
                "dialled": c.dialled_number,
                "started_at": c.started_at.isoformat(),
                "answered_at": c.answered_at.isoformat() if c.answered_at else None,
                "ended_at": c.ended_at.isoformat() if c.ended_at else None,
                "disposition": c.disposition.value if c.disposition else None,
                "last_stage": c.last_stage,
            }
            for c in calls
        ]
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/calls", list_calls)
    app.router.add_post("/api/v1/calls/{call_id}/transfer", transfer)
    app.router.add_post("/api/v1/calls/{call_id}/hold", hold)
    app.router.add_post("/api/v1/calls/{call_id}/supervise", supervise)
