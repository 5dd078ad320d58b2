"""What a ticket and its audit trail show to each role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from callcenter.db.models import Ticket, TicketEvent
from callcenter.tickets.deadlines import DeadlineConfig
from callcenter.users.roles import Actor, Role
from callcenter.web.ticket_views import event_view, sees_personal_data, ticket_view

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ticket(confidential: bool = False) -> Ticket:
    return Ticket(
        id=uuid.uuid4(),
        query_code="123456782",
        channel="phone",
        nature="complaint",
        subject="小区停水",
        content="停水两天",
        caller_name="王小红",
        caller_phone="13812345678",
        address="阳光花园3栋",
        district="高新区",
        confidential=confidential,
        priority=0,
        status="registered",
        created_at=NOW,
        updated_at=NOW,
        due_at=None,
        version=1,
        flags=[],
    )


def test_roles_see_personal_data_as_their_work_needs():
    open_, secret = ticket(), ticket(confidential=True)
    for role, plain, confidential in [
        (Role.AGENT, True, False),
        (Role.SUPERVISOR, True, True),
        (Role.ADMIN, True, True),
        (Role.DEPARTMENT, False, False),
        (Role.AUDITOR, False, False),
    ]:
        who = Actor("x", role, "SWJ" if role is Role.DEPARTMENT else None)
        assert sees_personal_data(who, open_) is plain, role
        assert sees_personal_data(who, secret) is confidential, role
    shown = ticket_view(secret, Actor("a", Role.AGENT), DeadlineConfig(), NOW)
    assert (shown["caller_name"], shown["caller_phone"], shown["address"]) == (
        "王**",
        "*******5678",
        "阳光****",
    )


def test_the_trail_masks_personal_values_it_recorded():
    event = TicketEvent(
        ticket_id=uuid.uuid4(),
        at=NOW,
        actor="agent-1",
        role="agent",
        action="edit",
        before={"caller_phone": "13812345678", "subject": "旧"},
        after={"caller_phone": "13900001111", "subject": "新"},
        detail={},
    )
    hidden = event_view(event, personal=False)
    assert hidden["before"] == {"caller_phone": "*******5678", "subject": "旧"}
    assert hidden["after"] == {"caller_phone": "*******1111", "subject": "新"}
    assert event_view(event, personal=True)["after"]["caller_phone"] == "13900001111"
