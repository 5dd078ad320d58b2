"""督办 rules, one by one and together."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcenter.tickets.supervision import Reason, TicketSnapshot, reasons
from callcenter.tickets.workflow import TicketStatus

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def ticket(**kwargs) -> TicketSnapshot:
    base = {"id": "T1", "status": TicketStatus.ACCEPTED, "due": NOW + timedelta(days=2)}
    return TicketSnapshot(**{**base, **kwargs})


def test_a_ticket_in_time_with_nothing_wrong_is_not_supervised():
    assert reasons(ticket(), NOW) == []


def test_overdue_by_one_second_is_supervised():
    assert reasons(ticket(due=NOW - timedelta(seconds=1)), NOW) == [Reason.OVERDUE]
    assert reasons(ticket(due=NOW), NOW) == []


def test_objections_and_returns():
    assert reasons(ticket(status=TicketStatus.OBJECTED), NOW) == [Reason.OBJECTED]
    assert reasons(ticket(returned=True), NOW) == [Reason.RETURNED]


@pytest.mark.parametrize(
    ("days_ago", "supervised"),
    [((1, 5, 29), True), ((1, 5), False), ((1, 5, 31), False), ((0, 0, 0, 40), True)],
)
def test_the_same_matter_three_times_within_thirty_days(days_ago, supervised):
    raised = tuple(NOW - timedelta(days=d) for d in days_ago)
    assert (Reason.REPEATED in reasons(ticket(raised_at=raised), NOW)) is supervised


def test_dissatisfied_callbacks_and_manual_flags():
    assert reasons(ticket(status=TicketStatus.REOPENED, dissatisfied=True), NOW) == [
        Reason.DISSATISFIED
    ]
    assert reasons(ticket(flags=("media",)), NOW) == [Reason.FLAGGED]


def test_every_reason_is_reported_together():
    t = ticket(
        status=TicketStatus.OBJECTED,
        due=NOW - timedelta(hours=1),
        returned=True,
        dissatisfied=True,
        flags=("leader",),
        raised_at=(NOW, NOW - timedelta(days=1), NOW - timedelta(days=2)),
    )
    assert reasons(t, NOW) == list(Reason)


def test_closed_and_merged_tickets_are_never_supervised():
    for status in (TicketStatus.CLOSED, TicketStatus.MERGED):
        assert reasons(ticket(status=status, due=NOW - timedelta(days=9), flags=("x",)), NOW) == []
