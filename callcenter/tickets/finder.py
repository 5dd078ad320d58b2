"""The desk's read side: search, duplicate candidates, callbacks due, supervision.

Reads never lock and never write. A department user only ever finds tickets
dispatched to its department, the same rule the ticket service applies to a
single read.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.calendar import WorkCalendar
from callcenter.db.models import Supervision, Ticket, TicketCallback
from callcenter.tickets import duplicates, search
from callcenter.tickets.catalogue import Catalogue
from callcenter.tickets.deadlines import DeadlineConfig
from callcenter.tickets.privacy import SEES_CONFIDENTIAL, SEES_PERSONAL_DATA, sees_personal_data
from callcenter.tickets.search import TicketQuery
from callcenter.tickets.textsearch import to_query
from callcenter.tickets.workflow import OPEN, NotPermitted
from callcenter.users.roles import CENTRE, Actor, Role

# Duplicates are looked for among tickets raised this recently.
DUPLICATE_WINDOW = timedelta(days=90)
DUPLICATE_POOL = 200  # candidates fetched by the indexes, then ranked in Python
# What an export reads of a ticket: everything but the search index's vector.
ROW_COLUMNS = tuple(c for c in Ticket.__table__.columns if c.name != "search_vector")


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    tickets: list[Ticket]


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    ticket: Ticket
    score: duplicates.Candidate


@dataclass(frozen=True, slots=True)
class SupervisionRow:
    record: Supervision
    ticket: Ticket


class TicketFinder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        calendar: WorkCalendar,
        deadlines: DeadlineConfig,
        catalogue: Catalogue,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.calendar = calendar
        self.deadlines = deadlines
        self.catalogue = catalogue
        self.clock = clock

    def _select(self, actor: Actor, query: TicketQuery) -> Select[Ticket]:
        if actor.role is Role.OPS:
            raise NotPermitted("ops users do not read work orders")
        if query.caller and actor.role not in SEES_PERSONAL_DATA:
            raise NotPermitted(f"{actor.role.value} users may not search by caller")
        return search.build(
            query,
            now=self.clock(),
            calendar=self.calendar,
            yellow_share=self.deadlines.yellow_share,
            categories=self.catalogue.category_and_below(query.category)
            if query.category and query.category in self.catalogue.categories
            else (),
            only_department=actor.department if actor.role is Role.DEPARTMENT else None,
            caller_in_confidential=actor.role in SEES_CONFIDENTIAL,
        )

    async def search(self, actor: Actor, query: TicketQuery) -> Page:
        stmt = self._select(actor, query)
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
            rows = await session.scalars(search.page(stmt, query))
            return Page(total or 0, list(rows))

    async def count(self, actor: Actor, query: TicketQuery) -> int:
        stmt = self._select(actor, query)
        async with self.sessions() as session:
            return await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0

    async def batches(
        self, actor: Actor, query: TicketQuery, *, limit: int, batch: int = 500
    ) -> AsyncGenerator[Sequence[Row[Any]], None]:
        """Every match in the query's order, at most ``limit``, as plain rows of the
        ticket's columns through a server-side cursor (exports: no ORM objects to
        build on the event loop; a row reads like a Ticket)."""
        stmt = search.page(self._select(actor, query), query).offset(None).limit(limit)
        stmt = stmt.with_only_columns(*ROW_COLUMNS).execution_options(yield_per=batch)
        async with self.sessions() as session:
            result = await session.stream(stmt)
            async for rows in result.partitions():
                yield rows

    async def duplicates(
        self,
        actor: Actor,
        *,
        phone: str,
        address: str,
        content: str,
        exclude: uuid.UUID | None = None,
    ) -> list[DuplicateCandidate]:
        """判重: open tickets likely about the same matter, best first."""
        if actor.role not in CENTRE:
            raise NotPermitted("only the centre looks for duplicates")
        exact: list[ColumnElement[bool]] = []
        if phone:
            exact.append(self._unless_masked(actor, Ticket.caller_phone == phone))
        if address:
            exact.append(self._unless_masked(actor, Ticket.address == address))
        matches = list(exact)
        # The pool is the likeliest by the same signals, so common words (小区)
        # in many newer tickets do not push the real duplicate out of it.
        relevance: ColumnElement[float] = literal(0.0)
        for match in exact:
            relevance = relevance + case((match, 1.0), else_=0.0)
        words = to_query(f"{content} {address}")
        if words is not None:
            matches.append(Ticket.search_vector.op("@@")(words))
            relevance = relevance + func.ts_rank(Ticket.search_vector, words)
        if not matches:
            return []
        now = self.clock()
        stmt = (
            select(Ticket)
            .where(
                Ticket.status.in_([s.value for s in OPEN]),
                Ticket.created_at.between(now - DUPLICATE_WINDOW, now),
                or_(*matches),
            )
            .order_by(relevance.desc(), Ticket.created_at.desc())
            .limit(DUPLICATE_POOL)
        )
        if exclude is not None:
            stmt = stmt.where(Ticket.id != exclude)
        async with self.sessions() as session:
            pool = {str(t.id): t for t in await session.scalars(stmt)}
        new = duplicates.Request("new", phone, address, content)
        ranked = duplicates.rank(
            new,
            [
                duplicates.Request(
                    i,
                    t.caller_phone,
                    t.address,
                    t.content,
                    private=not sees_personal_data(actor.role, t.confidential),
                )
                for i, t in pool.items()
            ],
        )
        return [DuplicateCandidate(pool[c.ticket_id], c) for c in ranked]

    @staticmethod
    def _unless_masked(actor: Actor, match: ColumnElement[bool]) -> ColumnElement[bool]:
        """``match`` only on tickets whose personal data ``actor`` sees: a masked
        phone must not pull its ticket into the list either."""
        return match if actor.role in SEES_CONFIDENTIAL else and_(match, ~Ticket.confidential)

    async def callbacks_due(
        self, actor: Actor, *, query_code: str | None = None, limit: int = 100
    ) -> list[tuple[TicketCallback, Ticket]]:
        """Open 回访 tasks, the most urgent first; ``query_code`` finds the
        one ticket a citizen is calling back about."""
        if actor.role not in CENTRE:
            raise NotPermitted("callbacks are the centre's work")
        stmt = (
            select(TicketCallback, Ticket)
            .join(Ticket, Ticket.id == TicketCallback.ticket_id)
            .where(TicketCallback.status == "open")
            .order_by(TicketCallback.due_at, TicketCallback.id)
            .limit(limit)
        )
        if query_code is not None:
            stmt = stmt.where(Ticket.query_code == query_code)
        async with self.sessions() as session:
            return [(task, ticket) for task, ticket in await session.execute(stmt)]

    async def supervisions(
        self, actor: Actor, *, include_resolved: bool = False, reasons: Sequence[str] = ()
    ) -> list[SupervisionRow]:
        """Tickets under supervision; a department sees those of its tickets."""
        if actor.role is Role.OPS:
            raise NotPermitted("ops users do not read work orders")
        stmt = (
            select(Supervision, Ticket)
            .join(Ticket, Ticket.id == Supervision.ticket_id)
            .order_by(Supervision.opened_at.desc(), Supervision.id.desc())
            .limit(1000)
        )
        if not include_resolved:
            stmt = stmt.where(Supervision.resolved_at.is_(None))
        if reasons:
            stmt = stmt.where(Supervision.reason.in_(list(reasons)))
        if actor.role is Role.DEPARTMENT:
            stmt = stmt.where(search.held_by(actor.department or ""))
        async with self.sessions() as session:
            return [
                SupervisionRow(record, ticket) for record, ticket in await session.execute(stmt)
            ]
