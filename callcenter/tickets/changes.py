"""Changing work orders: create, act through the workflow, edit, link calls.

Every change is one transaction that locks the ticket row, checks the
workflow and the actor, updates the ticket and its dispatches, and appends a
``ticket_events`` row with who, when, before and after. A refused action
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.calendar import WorkCalendar
from callcenter.db.models import (
    Call,
    Category,
    Department,
    Dispatch,
    KbEntry,
    Ticket,
    TicketCall,
    TicketCallback,
    TicketEvent,
)
from callcenter.tickets.codes import new_query_code
from callcenter.tickets.deadlines import (
    DeadlineConfig,
    Nature,
    accept_due,
    dispatch_due,
    end_of_working_days,
    handle_due,
)
from callcenter.tickets.errors import TicketChanged, TicketInvalid, TicketNotFound
from callcenter.tickets.oversight import reconcile
from callcenter.tickets.privacy import PERSONAL_FIELDS
from callcenter.tickets.reads import locked
from callcenter.tickets.textsearch import ticket_vector
from callcenter.tickets.workflow import (
    ENDED_DISPATCH,
    OPEN,
    Action,
    IllegalTicketTransition,
    NotPermitted,
    TicketStatus,
    apply,
)
from callcenter.users.roles import CENTRE, CENTRE_LEAD, Actor, Role

CHANNELS = ("phone", "voicemail", "sms", "web", "email")


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
    extension_days: int = 0  # request_extension: working days asked for
    kb_entry_id: int | None = None  # answer: the knowledge base entry used
    flag: str | None = None  # flag: media, leader, ...


def snapshot(ticket: Ticket) -> dict[str, Any]:
    return {
        "status": ticket.status,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "version": ticket.version,
        "merged_into": str(ticket.merged_into) if ticket.merged_into else None,
        "flags": list(ticket.flags or ()),
    }


def set_due(ticket: Ticket, due: datetime | None, now: datetime) -> None:
    """A new stage's deadline; its colour counts from now."""
    ticket.due_at = due
    ticket.stage_started_at = now if due is not None else None


RATINGS = ("满意", "基本满意", "不满意")
EDITABLE_FIELDS = frozenset(
    {
        "nature",
        "category_code",
        "subject",
        "content",
        "caller_name",
        "caller_phone",
        "address",
        "district",
        "confidential",
        "priority",
    }
)
EDITABLE_STATUSES = frozenset({TicketStatus.REGISTERED, TicketStatus.REOPENED})


class TicketChanges:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        calendar: WorkCalendar,
        deadlines: DeadlineConfig,
        clock: Callable[[], datetime] | None = None,
        callback_working_days: int = 2,
    ) -> None:
        self.sessions = sessions
        self.calendar = calendar
        self.deadlines = deadlines
        self.clock = clock or (lambda: datetime.now(UTC))
        self.callback_working_days = callback_working_days

    async def create(
        self,
        actor: Actor,
        new: NewTicket,
        call_id: uuid.UUID | None = None,
        also: Callable[[AsyncSession, Ticket], Awaitable[None]] | None = None,
    ) -> Ticket:
        """A registered ticket; ``also`` runs in the same transaction (what it came from)."""
        if actor.role not in CENTRE:
            raise NotPermitted(f"{actor.role.value} may not create tickets")
        if new.channel not in CHANNELS:
            raise TicketInvalid(f"channel must be one of {', '.join(CHANNELS)}")
        if not new.subject.strip() or not new.content.strip():
            raise TicketInvalid("subject and content are required")
        now = self.clock()
        async with self.sessions() as session:
            if new.category_code is not None:
                category = await session.get(Category, new.category_code)
                if category is None or not category.active:
                    raise TicketInvalid(f"unknown category {new.category_code!r}")
            if call_id is not None and await session.get(Call, call_id) is None:
                raise TicketInvalid(f"no call {call_id}")
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
                stage_started_at=now,
                version=1,
                flags=[],
                search_vector=ticket_vector(new.subject, new.content),
            )
            try:
                async with self.sessions.begin() as session:
                    session.add(ticket)
                    await session.flush()
                    await session.refresh(ticket, ["search_vector"])
                    if call_id is not None:
                        session.add(TicketCall(ticket_id=ticket.id, call_id=call_id))
                    if also is not None:
                        await also(session, ticket)
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
        """Another call about the same matter: it counts towards "raised 3 times"."""
        if actor.role not in CENTRE:
            raise NotPermitted(f"{actor.role.value} may not link calls to tickets")
        async with self.sessions.begin() as session:
            ticket = await locked(session, actor, ticket_id)
            if await session.get(Call, call_id) is None:
                raise TicketInvalid(f"no call {call_id}")
            if await session.get(TicketCall, (ticket_id, call_id)) is None:
                session.add(TicketCall(ticket_id=ticket_id, call_id=call_id))
                session.add(
                    self._event(ticket, actor, "link_call", None, None, {"call_id": str(call_id)})
                )
                await session.flush()
                await reconcile(session, [ticket], self.clock(), actor.name)

    async def act(self, actor: Actor, ticket_id: uuid.UUID, request: ActionRequest) -> Ticket:
        async with self.sessions.begin() as session:
            if request.action is Action.MERGE and request.merge_into is not None:
                # Both rows, in id order: two opposite merges wait instead of deadlocking.
                await session.execute(
                    select(Ticket.id)
                    .where(Ticket.id.in_([ticket_id, request.merge_into]))
                    .order_by(Ticket.id)
                    .with_for_update()
                )
            ticket = await locked(session, actor, ticket_id)
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
            await session.flush()
            judged = [ticket]
            if request.action is Action.MERGE and request.merge_into is not None:
                # The matter goes on in the target: its raises now include this ticket's.
                target = await session.get(Ticket, request.merge_into)
                if target is not None:  # _merge found it, locked
                    judged.append(target)
            await reconcile(session, judged, self.clock(), actor.name)
        return ticket

    async def edit(
        self,
        actor: Actor,
        ticket_id: uuid.UUID,
        changes: Mapping[str, Any],
        expected_version: int,
    ) -> Ticket:
        """Complete or correct the request while it is with the centre (a voicemail stub)."""
        if actor.role not in CENTRE:
            raise NotPermitted(f"{actor.role.value} may not edit tickets")
        unknown = set(changes) - EDITABLE_FIELDS
        if unknown:
            raise TicketInvalid(f"cannot edit {', '.join(sorted(unknown))}")
        async with self.sessions.begin() as session:
            ticket = await locked(session, actor, ticket_id)
            if expected_version != ticket.version:
                raise TicketChanged(
                    f"ticket is at version {ticket.version}, not {expected_version}: reload it"
                )
            if TicketStatus(ticket.status) not in EDITABLE_STATUSES:
                raise IllegalTicketTransition(
                    f"a {ticket.status} ticket is with a department: it cannot be edited"
                )
            if "category_code" in changes and changes["category_code"] is not None:
                category = await session.get(Category, changes["category_code"])
                if category is None or not category.active:
                    raise TicketInvalid(f"unknown category {changes['category_code']!r}")
            changed = {k: v for k, v in changes.items() if getattr(ticket, k) != v}
            if not changed:
                return ticket
            guarded = "confidential" in changed or (
                ticket.confidential and set(changed) & set(PERSONAL_FIELDS)
            )
            if guarded and actor.role not in CENTRE_LEAD:
                raise NotPermitted(
                    "only supervisors and admins change confidentiality "
                    "or a confidential caller's details"
                )
            before = {k: getattr(ticket, k) for k in changed}
            for key, value in changed.items():
                setattr(ticket, key, value)
            if {"subject", "content"} & changed.keys():
                ticket.search_vector = ticket_vector(ticket.subject, ticket.content)
            ticket.version += 1
            ticket.updated_at = self.clock()
            session.add(self._event(ticket, actor, "edit", before, changed, {}))
        return ticket

    # Internals -----------------------------------------------------------------------
    async def _side_effects(
        self,
        session: AsyncSession,
        ticket: Ticket,
        actor: Actor,
        req: ActionRequest,
        new_status: TicketStatus,
    ) -> dict[str, Any]:
        """Dispatches, deadlines, callback tasks and flags that go with the step."""
        now, a = self.clock(), req.action
        if actor.role is Role.DEPARTMENT and not await self._leads(session, ticket.id, actor):
            raise NotPermitted(f"only the lead department (主办) may {a.value} this ticket")
        if a in (Action.DISPATCH, Action.REDISPATCH):
            return await self._dispatch(session, ticket, req, now)
        if a in (Action.REQUEST_EXTENSION, Action.APPROVE_EXTENSION, Action.REJECT_EXTENSION):
            return await self._extension(session, ticket, req)
        if a in (Action.CALLBACK_SATISFIED, Action.CALLBACK_DISSATISFIED):
            return await self._callback_done(session, ticket, actor, req, now)
        if a is Action.MERGE:
            return await self._merge(session, ticket, actor, req)
        if a in (Action.INSTRUCT, Action.FLAG):
            flag = "leader" if a is Action.INSTRUCT else (req.flag or "").strip()
            if not flag or (a is Action.INSTRUCT and not (req.text or "").strip()):
                raise TicketInvalid(
                    "instruct needs text (the instruction)"
                    if a is Action.INSTRUCT
                    else "flag needs a flag (media, leader, ...)"
                )
            ticket.flags = sorted({*(ticket.flags or ()), flag})
            return {"flag": flag, "text": req.text}
        detail: dict[str, Any] = {"text": req.text} if req.text else {}
        if a is Action.ACCEPT:
            due = handle_due(self.deadlines, self.calendar, Nature(ticket.nature), now)
            await self._set_dispatch_state(
                session, ticket.id, "accepted", due, actor.department, accepted_at=now
            )
            set_due(ticket, due, now)
        elif a in (Action.OBJECT, Action.REPLY, Action.ESCALATE):
            if not (req.text or "").strip():
                raise TicketInvalid(f"{a.value} needs text (the reason, result or instruction)")
            if a is not Action.ESCALATE:
                await self._set_dispatch_state(
                    session,
                    ticket.id,
                    "objected" if a is Action.OBJECT else "replied",
                    department=actor.department,
                )
        elif a is Action.REJECT_REPLY:
            await self._set_dispatch_state(session, ticket.id, "accepted", lead_only=True)
        elif a is Action.RETURN:
            await self._set_dispatch_state(session, ticket.id, "returned")
            set_due(ticket, dispatch_due(self.deadlines, now), now)
        elif a is Action.REOPEN:
            set_due(ticket, dispatch_due(self.deadlines, now), now)
        if a is Action.ANSWER and req.kb_entry_id is not None:
            await self._used_entry(session, ticket, req.kb_entry_id, now)
            detail["kb_entry_id"] = req.kb_entry_id
        if new_status is TicketStatus.AWAITING_CALLBACK and ticket.status != new_status.value:
            due = end_of_working_days(self.calendar, now, self.callback_working_days)
            session.add(TicketCallback(ticket_id=ticket.id, created_at=now, due_at=due))
            set_due(ticket, due, now)
        return detail

    async def _dispatch(
        self, session: AsyncSession, ticket: Ticket, req: ActionRequest, now: datetime
    ) -> dict[str, Any]:
        a = req.action
        if not req.department:
            raise TicketInvalid(f"{a.value} needs a department (the lead, 主办)")
        codes = [req.department, *dict.fromkeys(c for c in req.co_handlers if c != req.department)]
        for code in codes:
            department = await session.get(Department, code)
            if department is None or not department.active:
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
                    extension_days=0,
                )
            )
        set_due(ticket, due, now)
        return {"lead": req.department, "co": codes[1:]}

    async def _extension(
        self, session: AsyncSession, ticket: Ticket, req: ActionRequest
    ) -> dict[str, Any]:
        """延期: the lead asks for working days with a reason; the centre decides."""
        lead = await session.scalar(
            select(Dispatch)
            .where(Dispatch.ticket_id == ticket.id, Dispatch.role == "lead")
            .where(Dispatch.state == "accepted")
        )
        if lead is None:
            raise TicketInvalid("no accepted lead dispatch to extend")
        cap = self.deadlines.max_extension_working_days
        if req.action is Action.REQUEST_EXTENSION:
            if lead.extension_requested is not None:
                raise TicketInvalid(
                    f"an extension of {lead.extension_requested} working days awaits approval"
                )
            if not (req.text or "").strip():
                raise TicketInvalid("request_extension needs text (the reason)")
            if not 1 <= req.extension_days <= cap - lead.extension_days:
                raise TicketInvalid(
                    f"extension_days must be 1 to {cap - lead.extension_days} "
                    f"({lead.extension_days} of {cap} working days already granted)"
                )
            lead.extension_requested, lead.extension_reason = req.extension_days, req.text
            return {"days": req.extension_days, "text": req.text}
        days = lead.extension_requested
        if days is None:
            raise TicketInvalid("no extension request awaits a decision")
        lead.extension_requested, lead.extension_reason = None, None
        if req.action is Action.REJECT_EXTENSION:
            return {"days": days, "text": req.text}
        lead.extension_days += days
        base = ticket.due_at or self.clock()
        due = end_of_working_days(self.calendar, base, days)
        lead.handle_due = due
        ticket.due_at = due  # the stage goes on: its start stays, so the colour eases
        return {"days": days, "due_at": due.isoformat(), "text": req.text}

    async def _callback_done(
        self,
        session: AsyncSession,
        ticket: Ticket,
        actor: Actor,
        req: ActionRequest,
        now: datetime,
    ) -> dict[str, Any]:
        """回访 recorded on the open task; 不满意 reopens (and the rules supervise it)."""
        satisfied = req.action is Action.CALLBACK_SATISFIED
        wanted = RATINGS[:2] if satisfied else RATINGS[2:]
        if req.rating not in wanted:
            raise TicketInvalid(f"{req.action.value} needs rating {' or '.join(wanted)}")
        task = await session.scalar(
            select(TicketCallback).where(
                TicketCallback.ticket_id == ticket.id, TicketCallback.status == "open"
            )
        )
        if task is None:  # a ticket from before callback tasks: record one now
            task = TicketCallback(ticket_id=ticket.id, created_at=now, due_at=now)
            session.add(task)
        task.status, task.rating, task.notes = "done", req.rating, req.text
        task.done_by, task.done_at = actor.name, now
        set_due(ticket, None if satisfied else dispatch_due(self.deadlines, now), now)
        return {"rating": req.rating, "notes": req.text}

    async def _merge(
        self, session: AsyncSession, ticket: Ticket, actor: Actor, req: ActionRequest
    ) -> dict[str, Any]:
        """并单: the duplicate points at the ticket that goes on, which gets its calls."""
        if req.merge_into is None or req.merge_into == ticket.id:
            raise TicketInvalid("merge needs another ticket to merge into")
        target = await session.scalar(
            select(Ticket).where(Ticket.id == req.merge_into).with_for_update()
        )
        if target is None:
            raise TicketNotFound(f"no ticket {req.merge_into}")
        if TicketStatus(target.status) not in OPEN:
            raise TicketInvalid(
                f"ticket {target.query_code} is {target.status}: merge into an open one"
            )
        calls = list(
            await session.scalars(
                select(TicketCall.call_id).where(TicketCall.ticket_id == ticket.id)
            )
        )
        if calls:
            await session.execute(
                insert(TicketCall)
                .values([{"ticket_id": target.id, "call_id": c} for c in calls])
                .on_conflict_do_nothing()
            )
        # Tickets merged into this one earlier follow it, so the matter has one root.
        await session.execute(
            update(Ticket).where(Ticket.merged_into == ticket.id).values(merged_into=target.id)
        )
        await session.execute(
            update(TicketCallback)
            .where(TicketCallback.ticket_id == ticket.id, TicketCallback.status == "open")
            .values(status="cancelled")
        )
        await self._set_dispatch_state(session, ticket.id, "superseded")  # the target goes on
        ticket.merged_into = target.id
        set_due(ticket, None, self.clock())
        detail = {"into": str(target.id), "calls": [str(c) for c in calls]}
        session.add(
            self._event(target, actor, "merged_in", None, None, {"from": str(ticket.id), **detail})
        )
        return detail

    async def _used_entry(
        self, session: AsyncSession, ticket: Ticket, entry_id: int, now: datetime
    ) -> None:
        entry = await session.get(KbEntry, entry_id)
        today = self.calendar.local(now).date()
        if entry is None:
            raise TicketInvalid(f"no knowledge base entry {entry_id}")
        if entry.valid_from > today or (entry.valid_to is not None and entry.valid_to < today):
            raise TicketInvalid(f"knowledge base entry {entry_id} is not valid on {today}")
        ticket.kb_entry_id = entry_id

    async def _leads(self, session: AsyncSession, ticket_id: uuid.UUID, actor: Actor) -> bool:
        found = await session.scalar(
            select(Dispatch.id)
            .where(
                Dispatch.ticket_id == ticket_id,
                Dispatch.department_code == actor.department,
                Dispatch.role == "lead",
                Dispatch.state.not_in(ENDED_DISPATCH),
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
        lead_only: bool = False,
        accepted_at: datetime | None = None,
    ) -> None:
        query = select(Dispatch).where(
            Dispatch.ticket_id == ticket_id, Dispatch.state.not_in(ENDED_DISPATCH)
        )
        if department is not None:
            query = query.where(Dispatch.department_code == department)
        if lead_only:
            query = query.where(Dispatch.role == "lead")
        for dispatch in await session.scalars(query):
            dispatch.state = state
            if handle_due_at is not None:
                dispatch.handle_due = handle_due_at
            if accepted_at is not None:
                dispatch.accepted_at = accepted_at

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
