"""Work orders in PostgreSQL: create, act through the workflow, read, look up.

Every change is one transaction that locks the ticket row, checks the
workflow and the actor, updates the ticket and its dispatches, and appends a
``ticket_events`` row with who, when, before and after. A refused action
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.calendar import WorkCalendar
from callcenter.db.models import Department, Dispatch, Ticket, TicketCall, TicketEvent
from callcenter.tickets.codes import new_query_code
from callcenter.tickets.deadlines import (
    DeadlineConfig,
    Nature,
    accept_due,
    dispatch_due,
    handle_due,
)
from callcenter.tickets.workflow import (
    Action,
    NotPermitted,
    Role,
    TicketError,
    TicketStatus,
    apply,
)

CHANNELS = ("phone", "voicemail", "sms", "web", "email")


class TicketNotFound(TicketError):
    title = "No such ticket"


class TicketInvalid(TicketError):
    title = "Invalid ticket request"


class TicketChanged(TicketError):
    title = "The ticket changed meanwhile"


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role
    department: str | None = None  # for department users: their 承办单位


@dataclass(frozen=True, slots=True)
class NewTicket:
    channel: str
    nature: Nature
    subject: str
    content: str
    caller_name: str = ""
    caller_phone: str = ""
    address: str = ""
    district: str = ""
    confidential: bool = False
    priority: int = 0
    category_code: str | None = None


@dataclass(frozen=True, slots=True)
class ActionRequest:
    action: Action
    expected_version: int | None = None  # optimistic check from the agent desktop
    department: str | None = None  # dispatch / redispatch: the lead (主办)
    co_handlers: Sequence[str] = ()  # 协办
    text: str | None = None  # objection reason, reply, leader instruction, notes
    rating: str | None = None  # 满意 / 基本满意 / 不满意
    merge_into: uuid.UUID | None = None
    extension_days: int = 0


def snapshot(ticket: Ticket) -> dict[str, Any]:
    return {
        "status": ticket.status,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "version": ticket.version,
        "merged_into": str(ticket.merged_into) if ticket.merged_into else None,
    }


class TicketService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        calendar: WorkCalendar,
        deadlines: DeadlineConfig,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.sessions = sessions
        self.calendar = calendar
        self.deadlines = deadlines
        self.clock = clock or (lambda: datetime.now(UTC))

    async def create(
        self, actor: Actor, new: NewTicket, call_id: uuid.UUID | None = None
    ) -> Ticket:
        if actor.role not in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN):
            raise NotPermitted(f"{actor.role.value} may not create tickets")
        if new.channel not in CHANNELS:
            raise TicketInvalid(f"channel must be one of {', '.join(CHANNELS)}")
        if not new.subject.strip() or not new.content.strip():
            raise TicketInvalid("subject and content are required")
        now = self.clock()
        for _ in range(5):  # a query code clash is astronomically rare: draw again
            ticket = Ticket(
                id=uuid.uuid4(),
                query_code=new_query_code(),
                channel=new.channel,
                nature=new.nature.value,
                category_code=new.category_code,
                subject=new.subject.strip(),
                content=new.content.strip(),
                caller_name=new.caller_name,
                caller_phone=new.caller_phone,
                address=new.address,
                district=new.district,
                confidential=new.confidential,
                priority=new.priority,
                status=TicketStatus.REGISTERED.value,
                created_at=now,
                updated_at=now,
                due_at=dispatch_due(self.deadlines, now),
                version=1,
            )
            try:
                async with self.sessions.begin() as session:
                    session.add(ticket)
                    await session.flush()
                    if call_id is not None:
                        session.add(TicketCall(ticket_id=ticket.id, call_id=call_id))
                    session.add(
                        self._event(
                            ticket,
                            actor,
                            "create",
                            None,
                            snapshot(ticket),
                            {"channel": new.channel, "call_id": str(call_id) if call_id else None},
                        )
                    )
                return ticket
            except IntegrityError as exc:
                if "query_code" not in str(exc.orig):
                    raise TicketInvalid(f"cannot store the ticket: {exc.orig}") from exc
        raise TicketInvalid("could not draw a free query code")

    async def link_call(self, actor: Actor, ticket_id: uuid.UUID, call_id: uuid.UUID) -> None:
        async with self.sessions.begin() as session:
            ticket = await self._locked(session, actor, ticket_id)
            if await session.get(TicketCall, (ticket_id, call_id)) is None:
                session.add(TicketCall(ticket_id=ticket_id, call_id=call_id))
                session.add(
                    self._event(ticket, actor, "link_call", None, None, {"call_id": str(call_id)})
                )

    async def act(self, actor: Actor, ticket_id: uuid.UUID, request: ActionRequest) -> Ticket:
        async with self.sessions.begin() as session:
            ticket = await self._locked(session, actor, ticket_id)
            if request.expected_version not in (None, ticket.version):
                raise TicketChanged(
                    f"ticket is at version {ticket.version}, "
                    f"not {request.expected_version}: reload it"
                )
            before = snapshot(ticket)
            new_status = apply(TicketStatus(ticket.status), request.action, actor.role)
            detail = await self._side_effects(session, ticket, actor, request, new_status)
            ticket.status = new_status.value
            ticket.version += 1
            ticket.updated_at = self.clock()
            session.add(
                self._event(ticket, actor, request.action.value, before, snapshot(ticket), detail)
            )
        return ticket

    async def get(self, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
        async with self.sessions() as session:
            return await self._visible(session, actor, ticket_id)

    async def events(self, actor: Actor, ticket_id: uuid.UUID) -> list[TicketEvent]:
        async with self.sessions() as session:
            await self._visible(session, actor, ticket_id)
            rows = await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id)
            )
            return list(rows)

    async def public_status(self, query_code: str, phone: str) -> dict[str, Any] | None:
        """What a citizen may know without logging in: the status, nothing personal."""
        async with self.sessions() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.query_code == query_code))
        if ticket is None or ticket.caller_phone != phone:
            return None  # a wrong phone looks exactly like a wrong code
        return {
            "query_code": ticket.query_code,
            "status": ticket.status,
            "updated_at": ticket.updated_at.isoformat(),
        }

    # Internals -----------------------------------------------------------------------
    async def _visible(self, session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or not await self._may_see(session, actor, ticket_id):
            raise TicketNotFound(f"no ticket {ticket_id}")  # same answer: no leak
        return ticket

    async def _locked(self, session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        )
        if ticket is None or not await self._may_see(session, actor, ticket_id):
            raise TicketNotFound(f"no ticket {ticket_id}")
        return ticket

    async def _may_see(self, session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> bool:
        if actor.role is not Role.DEPARTMENT:
            return True
        found = await session.scalar(
            select(Dispatch.id)
            .where(Dispatch.ticket_id == ticket_id, Dispatch.department_code == actor.department)
            .limit(1)
        )
        return found is not None

    async def _side_effects(
        self,
        session: AsyncSession,
        ticket: Ticket,
        actor: Actor,
        req: ActionRequest,
        new_status: TicketStatus,
    ) -> dict[str, Any]:
        now, a = self.clock(), req.action
        detail: dict[str, Any] = {}
        if actor.role is Role.DEPARTMENT and not await self._leads(session, ticket.id, actor):
            raise NotPermitted(f"only the lead department (主办) may {a.value} this ticket")
        if a in (Action.DISPATCH, Action.REDISPATCH):
            if not req.department:
                raise TicketInvalid(f"{a.value} needs a department (the lead, 主办)")
            codes = [req.department, *[c for c in req.co_handlers if c != req.department]]
            for code in codes:
                if await session.get(Department, code) is None:
                    raise TicketInvalid(f"unknown department {code!r}")
            await self._set_dispatch_state(session, ticket.id, "superseded")
            due = accept_due(self.deadlines, self.calendar, now)
            for code in codes:
                session.add(
                    Dispatch(
                        ticket_id=ticket.id,
                        department_code=code,
                        role="lead" if code == req.department else "co",
                        state="dispatched",
                        dispatched_at=now,
                        accept_due=due,
                    )
                )
            ticket.due_at = due
            detail = {"lead": req.department, "co": codes[1:]}
        elif a is Action.ACCEPT:
            due = handle_due(
                self.deadlines, self.calendar, Nature(ticket.nature), now, req.extension_days
            )
            await self._set_dispatch_state(session, ticket.id, "accepted", due, actor.department)
            ticket.due_at = due
        elif a in (Action.OBJECT, Action.REPLY, Action.ESCALATE):
            if not (req.text or "").strip():
                raise TicketInvalid(f"{a.value} needs text (the reason, result or instruction)")
            detail = {"text": req.text}
            if a is not Action.ESCALATE:
                await self._set_dispatch_state(
                    session,
                    ticket.id,
                    "objected" if a is Action.OBJECT else "replied",
                    department=actor.department,
                )
        elif a is Action.RETURN:
            await self._set_dispatch_state(session, ticket.id, "returned")
            ticket.due_at = dispatch_due(self.deadlines, now)
        elif a in (Action.CALLBACK_SATISFIED, Action.CALLBACK_DISSATISFIED):
            wanted = ("满意", "基本满意") if a is Action.CALLBACK_SATISFIED else ("不满意",)
            if req.rating not in wanted:
                raise TicketInvalid(f"{a.value} needs rating {' or '.join(wanted)}")
            detail = {"rating": req.rating, "notes": req.text}
            ticket.due_at = (
                None if a is Action.CALLBACK_SATISFIED else dispatch_due(self.deadlines, now)
            )
        elif a is Action.MERGE:
            if req.merge_into is None or req.merge_into == ticket.id:
                raise TicketInvalid("merge needs another ticket to merge into")
            if await session.get(Ticket, req.merge_into) is None:
                raise TicketNotFound(f"no ticket {req.merge_into}")
            ticket.merged_into = req.merge_into
            ticket.due_at = None
            detail = {"into": str(req.merge_into)}
        elif a in (Action.ANSWER, Action.APPROVE_REPLY):
            ticket.due_at = None
            detail = {"text": req.text} if req.text else {}
        elif a in (Action.REJECT_REPLY, Action.REOPEN):
            detail = {"text": req.text} if req.text else {}
            if a is Action.REOPEN:
                ticket.due_at = dispatch_due(self.deadlines, now)
        return detail

    async def _leads(self, session: AsyncSession, ticket_id: uuid.UUID, actor: Actor) -> bool:
        found = await session.scalar(
            select(Dispatch.id)
            .where(
                Dispatch.ticket_id == ticket_id,
                Dispatch.department_code == actor.department,
                Dispatch.role == "lead",
                Dispatch.state.not_in(("superseded", "returned")),
            )
            .limit(1)
        )
        return found is not None

    async def _set_dispatch_state(
        self,
        session: AsyncSession,
        ticket_id: uuid.UUID,
        state: str,
        handle_due_at: datetime | None = None,
        department: str | None = None,
    ) -> None:
        query = select(Dispatch).where(
            Dispatch.ticket_id == ticket_id, Dispatch.state.not_in(("superseded", "returned"))
        )
        if department is not None:
            query = query.where(Dispatch.department_code == department)
        for dispatch in await session.scalars(query):
            dispatch.state = state
            if handle_due_at is not None:
                dispatch.handle_due = handle_due_at

    def _event(
        self,
        ticket: Ticket,
        actor: Actor,
        action: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        detail: dict[str, Any],
    ) -> TicketEvent:
        return TicketEvent(
            ticket_id=ticket.id,
            at=self.clock(),
            actor=actor.name,
            role=actor.role.value,
            action=action,
            before=before,
            after=after,
            detail=detail,
        )
