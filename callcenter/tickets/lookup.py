"""The IVR's status lookup, answered from the work-order database.

A caller hears one of four statuses (each has a prompt ``status_<key>``), not
the desk's nine; a merged ticket answers with the status of the ticket that
carries the matter on. Nothing personal is ever spoken.
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
            ticket = await session.scalar(select(Ticket).where(Ticket.query_code == query_code))
            if ticket is not None and ticket.merged_into is not None:
                ticket = await session.get(Ticket, ticket.merged_into) or ticket
        if ticket is None:
            return None
        return SpokenStatus(
            query_code,
            SPOKEN[TicketStatus(ticket.status)],
            self.calendar.local(ticket.updated_at).date(),
        )
