"""督办 records: the rules of :mod:`supervision` applied to stored tickets.

:func:`reconcile` brings a batch of tickets' open supervision records in line
with the rules now: a reason that holds and has no open record gets one, with
a notification in the outbox (for the SMS gateway) in the same transaction; a
record whose reason is gone is resolved. Every workflow step reconciles its
ticket at once; :class:`SupervisionSweep` does all open tickets on a timer,
for what only time changes (overdue). A partial unique index keeps one open
record per ticket and reason, so two sweeps racing open it once.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Subquery,
    func,
    literal_column,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import (
    Dispatch,
    Outbox,
    Supervision,
    Ticket,
    TicketCallback,
    TicketEvent,
)
from callcenter.tickets.supervision import (
    REPEAT_COUNT,
    REPEAT_WINDOW,
    Reason,
    TicketSnapshot,
    reasons,
)
from callcenter.tickets.workflow import ENDED_DISPATCH, OPEN, TicketStatus

log = logging.getLogger(__name__)

BATCH = 500
CENTRE_RECIPIENT = "centre"  # the outbox recipient meaning the centre's supervisors


@dataclass(frozen=True, slots=True)
class Changes:
    opened: int = 0
    resolved: int = 0

    def __add__(self, other: Changes) -> Changes:
        return Changes(self.opened + other.opened, self.resolved + other.resolved)


def _raises(since: datetime, ticket_ids: Sequence[uuid.UUID] | None = None) -> Subquery:
    """When each matter was raised: its tickets' creation and the calls linked to them.

    A ticket merged into another counts for the one that carries the matter on
    (merges are kept one level deep), with the calls that were linked to it.
    """
    root = func.coalesce(Ticket.merged_into, Ticket.id)
    created = select(root.label("ticket_id"), Ticket.created_at.label("at")).where(
        Ticket.created_at >= since
    )
    linked = (
        select(root, TicketEvent.at)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(TicketEvent.action == "link_call", TicketEvent.at >= since)
    )
    if ticket_ids is not None:
        created = created.where(root.in_(ticket_ids))
        linked = linked.where(root.in_(ticket_ids))
    return union_all(created, linked).subquery()


async def _snapshots(
    session: AsyncSession, tickets: Sequence[Ticket], now: datetime
) -> list[TicketSnapshot]:
    ids = [t.id for t in tickets]
    returned = set(
        await session.scalars(
            select(Dispatch.ticket_id).where(
                Dispatch.ticket_id.in_(ids), Dispatch.state == "returned"
            )
        )
    )
    last_rating = dict(
        (
            await session.execute(
                select(TicketCallback.ticket_id, TicketCallback.rating)
                .where(TicketCallback.ticket_id.in_(ids), TicketCallback.status == "done")
                .order_by(TicketCallback.ticket_id, TicketCallback.done_at.desc())
                .ext(distinct_on(TicketCallback.ticket_id))
            )
        ).all()
    )
    raises = _raises(now - REPEAT_WINDOW, ids)
    raised: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    for ticket_id, at in await session.execute(select(raises.c.ticket_id, raises.c.at)):
        raised[ticket_id].append(at)
    return [
        TicketSnapshot(
            id=str(t.id),
            status=TicketStatus(t.status),
            due=t.due_at,
            returned=t.id in returned,
            dissatisfied=last_rating.get(t.id) == "不满意",
            flags=tuple(t.flags or ()),
            raised_at=tuple(raised.get(t.id, ())),
        )
        for t in tickets
    ]


def _detail(snapshot: TicketSnapshot, reason: Reason, now: datetime) -> dict[str, Any]:
    if reason is Reason.OVERDUE and snapshot.due is not None:
        return {"due_at": snapshot.due.isoformat()}
    if reason is Reason.REPEATED:
        return {"times": len([t for t in snapshot.raised_at if now - t <= REPEAT_WINDOW])}
    if reason is Reason.FLAGGED:
        return {"flags": list(snapshot.flags)}
    return {}


async def reconcile(
    session: AsyncSession, tickets: Sequence[Ticket], now: datetime, by: str
) -> Changes:
    """Open and resolve these tickets' supervision records (in the caller's transaction)."""
    if not tickets:
        return Changes()
    ids = [t.id for t in tickets]
    open_records: dict[tuple[uuid.UUID, str], int] = {
        (ticket_id, reason): record_id
        for record_id, ticket_id, reason in await session.execute(
            select(Supervision.id, Supervision.ticket_id, Supervision.reason).where(
                Supervision.ticket_id.in_(ids), Supervision.resolved_at.is_(None)
            )
        )
    }
    leads = dict(
        (
            await session.execute(
                select(Dispatch.ticket_id, Dispatch.department_code).where(
                    Dispatch.ticket_id.in_(ids),
                    Dispatch.role == "lead",
                    Dispatch.state.not_in(ENDED_DISPATCH),
                )
            )
        ).all()
    )
    by_id = {t.id: t for t in tickets}
    opened = 0
    holding: set[tuple[uuid.UUID, str]] = set()
    for snap in await _snapshots(session, tickets, now):
        ticket = by_id[uuid.UUID(snap.id)]
        for reason in reasons(snap, now):
            key = (ticket.id, reason.value)
            holding.add(key)
            if key in open_records:
                continue
            detail = _detail(snap, reason, now)
            inserted = await session.scalar(
                insert(Supervision)
                .values(
                    ticket_id=ticket.id,
                    reason=reason.value,
                    detail=detail,
                    opened_by=by,
                    opened_at=now,
                )
                .on_conflict_do_nothing(
                    index_elements=["ticket_id", "reason"],
                    index_where=Supervision.resolved_at.is_(None),
                )
                .returning(Supervision.id)
            )
            if inserted is None:
                continue  # another sweep opened it a moment ago
            opened += 1
            payload = {
                "ticket_id": str(ticket.id),
                "query_code": ticket.query_code,
                "subject": ticket.subject,
                "reason": reason.value,
                **detail,
            }
            for recipient in (CENTRE_RECIPIENT, leads.get(ticket.id)):
                if recipient:
                    session.add(
                        Outbox(
                            kind="supervision",
                            recipient=recipient,
                            payload=payload,
                            created_at=now,
                        )
                    )
    gone = [record_id for key, record_id in open_records.items() if key not in holding]
    if gone:
        await session.execute(
            update(Supervision).where(Supervision.id.in_(gone)).values(resolved_at=now)
        )
    return Changes(opened, len(gone))


class SupervisionSweep:
    """Re-evaluate every ticket that is, or may have to be, under supervision."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    async def run_once(self) -> Changes:
        async with self.sessions() as session:
            ids = list(await session.scalars(self._candidates(self.clock())))
        total = Changes()
        for start in range(0, len(ids), BATCH):
            async with self.sessions.begin() as session:
                tickets = list(
                    await session.scalars(
                        select(Ticket)
                        .where(Ticket.id.in_(ids[start : start + BATCH]))
                        .with_for_update(skip_locked=True)  # one being changed: next round
                    )
                )
                # The time after the lock: an action just committed is judged by it.
                total += await reconcile(session, tickets, self.clock(), by="sweep")
        if total.opened or total.resolved:
            log.info("supervision sweep: %d opened, %d resolved", total.opened, total.resolved)
        return total

    @staticmethod
    def _candidates(now: datetime) -> CompoundSelect[uuid.UUID]:
        """Tickets a rule may hold for, or that hold a record: a union of indexed reads.

        (One OR over the table would read all of it every round.) Closed ones
        among them are reconciled too, which resolves their records.
        """
        raises = _raises(now - REPEAT_WINDOW)
        open_statuses = [s.value for s in OPEN]
        return union(
            select(Supervision.ticket_id).where(Supervision.resolved_at.is_(None)),
            select(Ticket.id).where(Ticket.status.in_(open_statuses), Ticket.due_at < now),
            select(Ticket.id).where(
                Ticket.status.in_([TicketStatus.OBJECTED.value, TicketStatus.REOPENED.value])
            ),
            # Inline, so the planner matches the partial index ix_tickets_flagged.
            select(Ticket.id).where(
                Ticket.flags != literal_column("'[]'::jsonb"), Ticket.status.in_(open_statuses)
            ),
            select(Dispatch.ticket_id)
            .join(Ticket, Ticket.id == Dispatch.ticket_id)
            .where(Dispatch.state == "returned", Ticket.status.in_(open_statuses)),
            select(raises.c.ticket_id)
            .group_by(raises.c.ticket_id)
            .having(func.count() >= REPEAT_COUNT),
        )
