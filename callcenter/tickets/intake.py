"""Tickets that arrive without an agent: a voicemail left in the IVR.

The message becomes a registered ticket (channel voicemail) linked to its
call, so it enters the same deadlines and supervision as a call taken by an
agent; the agent who listens to it completes nature and content by editing
the ticket (PATCH) before dispatching or answering it, and the audit trail
shows it came in by itself. The ticket and the voicemail's link to it are one
transaction; a message whose ticket could not be written (the database away
at that moment) is picked up by :func:`adopt_voicemails` on the next round,
so no message is left without a ticket.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import Recording, Ticket, Voicemail
from callcenter.recording.store import NewVoicemail
from callcenter.tickets.changes import NewTicket
from callcenter.tickets.deadlines import Nature
from callcenter.tickets.service import TicketService
from callcenter.tickets.workflow import TicketError
from callcenter.users.roles import Actor, Role

log = logging.getLogger(__name__)

SYSTEM = Actor("ivr-voicemail", Role.AGENT)
# The live hook has this long before a sweep takes a message over; messages
# older than the window (left before tickets existed) are not turned into new ones.
ADOPT_AFTER = timedelta(minutes=1)
ADOPT_WINDOW = timedelta(days=7)


class AlreadyTicketed(TicketError):
    title = "The voicemail already has a ticket"


def _stub(message: NewVoicemail) -> NewTicket:
    return NewTicket(
        channel="voicemail",
        nature=Nature.HELP,
        subject="语音留言（待补充）",  # no number here: subjects are never masked
        content=(
            f"来电留言，待坐席听取录音后补充。录音 {message.recording_name} "
            f"(sha256 {message.sha256[:16]}…)"
        ),
        caller_phone=message.caller_number if message.caller_number.isdigit() else "",
    )


async def ticket_for_voicemail(tickets: TicketService, message: NewVoicemail) -> Ticket:
    async def claim(session: AsyncSession, ticket: Ticket) -> None:
        claimed = await session.execute(
            update(Voicemail)
            .where(Voicemail.id == message.voicemail_id, Voicemail.ticket_id.is_(None))
            .values(ticket_id=ticket.id, status="ticket")
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise AlreadyTicketed(f"voicemail {message.voicemail_id} already has a ticket")

    return await tickets.create(SYSTEM, _stub(message), call_id=message.call_id, also=claim)


def voicemail_to_ticket(tickets: TicketService) -> Callable[[NewVoicemail], Awaitable[None]]:
    """The hook the IVR calls after a message is stored."""

    async def hook(message: NewVoicemail) -> None:
        await ticket_for_voicemail(tickets, message)

    return hook


async def adopt_voicemails(
    tickets: TicketService, sessions: async_sessionmaker[AsyncSession], now: datetime
) -> int:
    """Give a ticket to every message that has none; how many were given one."""
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Voicemail, Recording.name, Recording.sha256)
                .join(Recording, Recording.id == Voicemail.recording_id)
                .where(
                    Voicemail.ticket_id.is_(None),
                    Voicemail.created_at.between(now - ADOPT_WINDOW, now - ADOPT_AFTER),
                )
                .order_by(Voicemail.created_at)
                .limit(500)
            )
        ).all()
    adopted = 0
    for voicemail, name, sha256 in rows:
        message = NewVoicemail(
            voicemail.id, voicemail.call_id, voicemail.caller_number, name, sha256
        )
        try:
            await ticket_for_voicemail(tickets, message)
            adopted += 1
        except AlreadyTicketed:
            pass  # the live hook got there first
        except Exception:  # one bad row must not hold up the others
            log.exception("cannot give voicemail %s a ticket", voicemail.id)
    if adopted:
        log.info("gave tickets to %d voicemail messages that had none", adopted)
    return adopted
