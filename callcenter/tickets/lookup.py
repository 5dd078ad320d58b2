"""The IVR's status lookup, answered from the work-order database.

A caller hears one of four statuses (each has a prompt ``status_<key>``), not
the desk's nine; a merged ticket answers with the status of the ticket that
carries the matter on. Nothing personal is ever spoken; the phone given at
intake (of the ticket whose code was typed) goes to the interpreter, which
speaks only to a caller who proves it is theirs.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.calendar import WorkCalendar
from callcenter.db.models import Ticket
from callcenter.ivr.port import TicketStatus as SpokenStatus
from callcenter.tickets.codes import is_valid_query_code
from callcenter.tickets.workflow import TicketStatus

SPOKEN: dict[TicketStatus, str] = {
    TicketStatus.REGISTERED: "received",
    TicketStatus.DISPATCHED: "received",
    TicketStatus.OBJECTED: "received",
    TicketStatus.ACCEPTED: "processing",
    TicketStatus.REOPENED: "processing",
    TicketStatus.REPLIED: "replied",
    TicketStatus.AWAITING_CALLBACK: "replied",
    TicketStatus.CLOSED: "closed",
    TicketStatus.MERGED: "processing",  # only when its target is gone
}


class DbTicketLookup:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], calendar: WorkCalendar) -> None:
        self.sessions = sessions
        self.calendar = calendar

    async def status(self, query_code: str) -> SpokenStatus | None:
        if not is_valid_query_code(query_code):
            return None  # a mistyped digit: no database round trip
        async with self.sessions() as session:
            typed = await session.scalar(select(Ticket).where(Ticket.query_code == query_code))
            ticket = typed
            if typed is not None and typed.merged_into is not None:
                ticket = await session.get(Ticket, typed.merged_into) or typed
        if typed is None or ticket is None:
            return None
        return SpokenStatus(
            query_code,
            SPOKEN[TicketStatus(ticket.status)],
            self.calendar.local(ticket.updated_at).date(),
            typed.caller_phone,
        )
