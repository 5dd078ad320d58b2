"""Tickets that arrive without an agent: a voicemail left in the IVR.

The message becomes a registered ticket (channel voicemail) linked to its
call, so it enters the same deadlines and supervision as a call taken by an
agent; the agent who listens to it completes nature and content by
editing the ticket (PATCH) before dispatching or answering it; the audit
trail shows it came in by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import Voicemail
from callcenter.recording.store import NewVoicemail
from callcenter.tickets.deadlines import Nature
from callcenter.tickets.service import Actor, NewTicket, TicketService
from callcenter.tickets.workflow import Role

SYSTEM = Actor("ivr-voicemail", Role.AGENT)


def voicemail_to_ticket(
    tickets: TicketService, sessions: async_sessionmaker[AsyncSession]
) -> Callable[[NewVoicemail], Awaitable[None]]:
    async def hook(message: NewVoicemail) -> None:
        ticket = await tickets.create(
            SYSTEM,
            NewTicket(
                channel="voicemail",
                nature=Nature.HELP,
                subject=f"语音留言 {message.caller_number or '未知号码'}",
                content=(
                    f"来电留言，待坐席听取录音后补充。录音 {message.recording_name} "
                    f"(sha256 {message.sha256[:16]}…)"
                ),
                caller_phone=message.caller_number if message.caller_number.isdigit() else "",
            ),
            call_id=message.call_id,
        )
        async with sessions.begin() as session:
            await session.execute(
                update(Voicemail)
                .where(Voicemail.id == message.voicemail_id)
                .values(ticket_id=ticket.id, status="ticket")
            )

    return hook
