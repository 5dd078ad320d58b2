"""The ticket desk the app and the intake hold: the changes and the reads over
one database (:mod:`.changes` and :mod:`.reads` say how each works)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.calendar import WorkCalendar
from callcenter.tickets.changes import TicketChanges
from callcenter.tickets.deadlines import DeadlineConfig
from callcenter.tickets.reads import TicketReads


class TicketService(TicketChanges, TicketReads):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        calendar: WorkCalendar,
        deadlines: DeadlineConfig,
        clock: Callable[[], datetime] | None = None,
        callback_working_days: int = 2,
    ) -> None:
        TicketChanges.__init__(self, sessions, calendar, deadlines, clock, callback_working_days)
        TicketReads.__init__(self, sessions)
