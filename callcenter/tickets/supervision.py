"""督办: which tickets need supervision, and why.

Evaluated over a snapshot of a ticket (pure, so the rules are testable and the
same in the background sweep and on demand): overdue; objected or returned;
the same matter raised 3 or more times within 30 days; a dissatisfied
callback; a manual flag (leader instruction, media exposure).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callcenter.tickets.workflow import TicketStatus

REPEAT_COUNT = 3
REPEAT_WINDOW = timedelta(days=30)


class Reason(enum.StrEnum):
    OVERDUE = "overdue"  # 超期
    OBJECTED = "objected"  # 派单异议 / 推诿
    RETURNED = "returned"  # 退单
    REPEATED = "repeated"  # 重复诉求 ≥3 次 / 30 天
    DISSATISFIED = "dissatisfied"  # 回访不满意
    FLAGGED = "flagged"  # 领导批示、媒体曝光


@dataclass(frozen=True, slots=True)
class TicketSnapshot:
    id: str
    status: TicketStatus
    due: datetime | None  # the deadline of the stage it is in
    returned: bool = False  # it came back from a department (退单) at least once
    dissatisfied: bool = False  # the last callback was 不满意
    flags: tuple[str, ...] = ()  # manual: "leader", "media", ...
    # When the same matter (merged tickets, duplicates) was raised before.
    raised_at: Sequence[datetime] = field(default_factory=tuple)


def reasons(ticket: TicketSnapshot, now: datetime) -> list[Reason]:
    """Every reason this ticket is under supervision now (empty: none)."""
    if ticket.status in (TicketStatus.CLOSED, TicketStatus.MERGED):
        return []
    found: list[Reason] = []
    if ticket.due is not None and now > ticket.due:
        found.append(Reason.OVERDUE)
    if ticket.status is TicketStatus.OBJECTED:
        found.append(Reason.OBJECTED)
    if ticket.returned:
        found.append(Reason.RETURNED)
    recent = [t for t in ticket.raised_at if now - t <= REPEAT_WINDOW]
    if len(recent) >= REPEAT_COUNT:
        found.append(Reason.REPEATED)
    if ticket.dissatisfied:
        found.append(Reason.DISSATISFIED)
    if ticket.flags:
        found.append(Reason.FLAGGED)
    return found
