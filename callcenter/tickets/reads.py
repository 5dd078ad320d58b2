"""Reading work orders: one ticket, its dispatches and its trail, a citizen's lookup.

Who may see a ticket is decided here for the reads and the changes alike: a
ticket another department holds is answered exactly like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import Dispatch, Ticket, TicketEvent
from callcenter.tickets.errors import TicketNotFound
from callcenter.tickets.search import held_by
from callcenter.tickets.workflow import NotPermitted
from callcenter.users.roles import Actor, Role


class TicketReads:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
        async with self.sessions() as session:
            return await visible(session, actor, ticket_id)

    async def dispatches(self, actor: Actor, ticket_id: uuid.UUID) -> list[Dispatch]:
        """Where the ticket was sent, oldest first (superseded ones too: the history)."""
        async with self.sessions() as session:
            await visible(session, actor, ticket_id)
            rows = await session.scalars(
                select(Dispatch).where(Dispatch.ticket_id == ticket_id).order_by(Dispatch.id)
            )
            return list(rows)

    async def events(self, actor: Actor, ticket_id: uuid.UUID) -> list[TicketEvent]:
        async with self.sessions() as session:
            await visible(session, actor, ticket_id)
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
        if ticket is None or not phone or ticket.caller_phone != phone:
            return None  # a wrong phone looks exactly like a wrong code
        if ticket.merged_into is not None:  # the citizen follows the matter, not the copy
            async with self.sessions() as session:
                ticket = await session.get(Ticket, ticket.merged_into) or ticket
        return {
            "query_code": query_code,
            "status": ticket.status,
            "updated_at": ticket.updated_at.isoformat(),
        }


async def visible(session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
    """The ticket if ``actor`` may see it; else TicketNotFound."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not await may_see(session, actor, ticket_id):
        raise TicketNotFound(f"no ticket {ticket_id}")  # same answer: no leak
    return ticket


async def locked(session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> Ticket:
    """The ticket, its row locked until the transaction ends, if ``actor`` may see it."""
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None or not await may_see(session, actor, ticket_id):
        raise TicketNotFound(f"no ticket {ticket_id}")
    return ticket


async def may_see(session: AsyncSession, actor: Actor, ticket_id: uuid.UUID) -> bool:
    if actor.role is Role.OPS:
        raise NotPermitted("ops users do not read work orders")
    if actor.role is not Role.DEPARTMENT or actor.department is None:
        return actor.role is not Role.DEPARTMENT
    return bool(
        await session.scalar(select(held_by(actor.department)).where(Ticket.id == ticket_id))
    )
