"""What the API answers, as pydantic models: the response bodies of the OpenAPI
document. Handlers build plain dicts; the fuzz test (tests/integration/
test_api_contract.py) holds every answer to these shapes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callcenter.acd.agents import AgentState
from callcenter.tickets.deadlines import Colour, Nature
from callcenter.tickets.workflow import Action, TicketStatus


class Out(BaseModel):
    """An answer: exactly these fields (a new one is added here first)."""

    model_config = ConfigDict(extra="forbid")


class TokenOut(Out):
    token: str


class AriHealth(Out):
    connected: bool
    connections: int


class DatabaseHealth(Out):
    ok: bool
    backlog: int  # call record operations not yet committed


class CallsHealth(Out):
    active: int
    draining: bool


class HealthOut(Out):
    status: Literal["ok", "degraded"]
    ari: AriHealth
    database: DatabaseHealth
    calls: CallsHealth


class IvrFlowOut(Out):
    numbers: list[str]
    start: str
    nodes: int


class IvrOut(Out):
    version: str
    flows: dict[str, IvrFlowOut]


class IvrReloaded(Out):
    version: str
    # file:line: warning: … — the set is in service; ops should still look.
    warnings: list[str] = []


class AgentOut(Out):
    id: str
    name: str
    seat: str
    state: AgentState
    reason: str | None
    since: datetime | None
    registered: bool
    call_id: uuid.UUID | None  # the call ringing or talking: for hold and transfer
    calls_answered: int
    skills: dict[str, int]


class RosterReloaded(Out):
    agents: int
    pjsip_reloaded: bool


class WaitingCaller(Out):
    position: int
    since: datetime
    priority: int


class QueueOut(Out):
    title: str
    strategy: str
    waiting: list[WaitingCaller]
    agents: dict[str, int]  # agents serving the queue, by state


class CallRecordOut(Out):
    id: uuid.UUID
    caller: str  # masked for roles that do not see personal data
    dialled: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    disposition: str | None
    last_stage: str | None


class TransferOut(Out):
    to: str  # as sent
    destination: str  # dept:CODE, dept:CODE/duty or agent:ID
    number: str | None  # what the dial-out trunk dials (departments)
    mode: Literal["blind", "conference"]
    agents: list[str]


class HoldOut(Out):
    on_hold: bool


class SuperviseOut(Out):
    mode: Literal["listen", "whisper", "barge"]
    supervisor_channel: str


class TicketOut(Out):
    """A work order as the asking user may see it (personal data masked by role)."""

    id: uuid.UUID
    query_code: str
    channel: str
    nature: Nature
    category_code: str | None
    subject: str
    content: str
    caller_name: str
    caller_phone: str
    address: str
    district: str
    confidential: bool
    priority: int
    status: TicketStatus
    version: int
    due_at: datetime | None
    colour: Colour | None
    flags: list[str]
    kb_entry_id: int | None
    merged_into: uuid.UUID | None
    actions: list[Action]  # what this user may do now
    created_at: datetime
    updated_at: datetime


class DispatchOut(Out):
    department: str
    role: str
    state: str
    dispatched_at: datetime
    accepted_at: datetime | None
    accept_due: datetime
    handle_due: datetime | None
    colour: Colour | None
    extension_days: int
    extension_requested: int | None


class TicketDetail(TicketOut):
    dispatches: list[DispatchOut]


class DuplicateOut(Out):
    score: float
    text: float
    same_phone: bool | None  # null when the user sees the caller masked
    same_place: float | None  # null with same_phone: a guessed place would show
    ticket: TicketOut


class TicketCreated(TicketOut):
    duplicates: list[DuplicateOut]


class TicketPage(Out):
    total: int
    page: int
    per_page: int
    tickets: list[TicketOut]


class TicketEventOut(Out):
    at: datetime
    actor: str
    role: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None


class PublicStatus(Out):
    """All a citizen learns without logging in."""

    query_code: str
    status: TicketStatus
    updated_at: datetime


class DepartmentOut(Out):
    code: str
    name: str
    parent: str | None
    districts: list[str]


class CategoryOut(Out):
    code: str
    name: str
    parent: str | None
    departments: list[str]


class SuggestionOut(Out):
    lead: str | None
    co_handlers: list[str]
    why: str


class KbEntryOut(Out):
    id: int
    question: str
    answer: str
    department_code: str | None
    tags: list[str]
    valid_from: date
    valid_to: date | None
    version: int
    updated_by: str
    rank: float | None = Field(None, description="Search results only: how well it matches")


class CallbackOut(Out):
    id: int
    ticket_id: uuid.UUID
    query_code: str
    subject: str
    caller_phone: str
    due_at: datetime


class SupervisionOut(Out):
    id: int
    reason: str
    detail: dict[str, Any] | None
    opened_by: str
    opened_at: datetime
    resolved_at: datetime | None
    ticket: TicketOut


class SweepOut(Out):
    opened: int
    resolved: int


class IvrInvalid(Out):
    """The problem an invalid flow set is refused with (422)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    version: str
    errors: list[str]  # file:line:column: what is wrong
