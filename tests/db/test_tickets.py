"""Work orders against the real PostgreSQL: the closed loop with its audit trail,
deadlines across National Day, refusals that change nothing, who sees what."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callcenter.db.models import Ticket
from callcenter.tickets.changes import ActionRequest
from callcenter.tickets.errors import TicketChanged, TicketInvalid, TicketNotFound
from callcenter.tickets.service import TicketService
from callcenter.tickets.workflow import Action, IllegalTicketTransition, NotPermitted
from callcenter.users.roles import Actor
from tests.db.desk import AGENT, LEAD, SH, water_outage


async def test_the_closed_loop_with_every_step_in_the_audit_trail(desk, departments, db):
    tickets, clock = desk
    water, _ = departments
    ticket = await tickets.create(AGENT, water_outage())
    assert ticket.status == "registered" and len(ticket.query_code) == 9
    assert ticket.due_at == datetime(2026, 9, 30, 22, 0, tzinfo=SH)  # dispatch in 12 hours

    dispatched = await tickets.act(
        AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department)
    )
    assert dispatched.due_at == datetime(2026, 10, 8, 23, 59, 59, tzinfo=SH)  # after 国庆
    clock.now = datetime(2026, 10, 8, 9, 0, tzinfo=SH)
    accepted = await tickets.act(water, ticket.id, ActionRequest(Action.ACCEPT))
    # 15 working days from Thursday 8 Oct: 9, 10 (调休 Saturday), 12–16, 19–23, 26–28.
    assert accepted.due_at == datetime(2026, 10, 28, 23, 59, 59, tzinfo=SH)
    await tickets.act(water, ticket.id, ActionRequest(Action.REPLY, text="已抢修管道，恢复供水"))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.APPROVE_REPLY))
    closed = await tickets.act(
        AGENT, ticket.id, ActionRequest(Action.CALLBACK_SATISFIED, rating="满意")
    )
    assert closed.status == "closed" and closed.due_at is None

    trail = await tickets.events(LEAD, ticket.id)
    assert [(e.action, e.actor) for e in trail] == [
        ("create", "agent-1001"),
        ("dispatch", "agent-1001"),
        ("accept", "water-clerk"),
        ("reply", "water-clerk"),
        ("approve_reply", "agent-1001"),
        ("callback_satisfied", "agent-1001"),
    ]
    assert trail[3].detail == {"text": "已抢修管道，恢复供水"}
    assert (trail[2].before["status"], trail[2].after["status"]) == ("dispatched", "accepted")
    # The trail cannot be rewritten, even by the service's own database user.
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin() as conn:
            await conn.execute(
                text("UPDATE ticket_events SET actor = 'x' WHERE id = :i"), {"i": trail[0].id}
            )


async def test_refused_actions_change_nothing(desk, departments):
    tickets, _ = desk
    water, _ = departments
    ticket = await tickets.create(AGENT, water_outage())
    with pytest.raises(IllegalTicketTransition, match="cannot approve_reply a registered"):
        await tickets.act(AGENT, ticket.id, ActionRequest(Action.APPROVE_REPLY))
    with pytest.raises(TicketInvalid, match="needs a department"):
        await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH))
    with pytest.raises(TicketInvalid, match="unknown department"):
        await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department="NOPE"))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    with pytest.raises(TicketChanged):
        await tickets.act(
            AGENT,
            ticket.id,
            ActionRequest(Action.MERGE, expected_version=1, merge_into=uuid.uuid4()),
        )
    with pytest.raises(NotPermitted, match="department may not dispatch"):
        await tickets.act(water, ticket.id, ActionRequest(Action.DISPATCH, department="x"))
    with pytest.raises(TicketInvalid, match="needs text"):
        await tickets.act(water, ticket.id, ActionRequest(Action.OBJECT))
    after = await tickets.get(LEAD, ticket.id)
    assert (after.status, after.version) == ("dispatched", 2)
    assert [e.action for e in await tickets.events(LEAD, ticket.id)] == ["create", "dispatch"]


async def test_a_department_sees_only_what_was_dispatched_to_it(desk, departments):
    tickets, _ = desk
    water, roads = departments
    ticket = await tickets.create(AGENT, water_outage())
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    assert (await tickets.get(water, ticket.id)).id == ticket.id
    with pytest.raises(TicketNotFound):
        await tickets.get(roads, ticket.id)
    with pytest.raises(TicketNotFound):
        await tickets.act(roads, ticket.id, ActionRequest(Action.ACCEPT))


async def objected_and_redispatched(
    tickets: TicketService, water: Actor, roads: Actor, co_handlers: Sequence[str] = ()
) -> Ticket:
    """Dispatched to water, which objects (派单异议); the lead re-dispatches to roads."""
    ticket = await tickets.create(AGENT, water_outage())
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    await tickets.act(water, ticket.id, ActionRequest(Action.OBJECT, text="不属于本单位职责"))
    await tickets.act(
        LEAD,
        ticket.id,
        ActionRequest(Action.REDISPATCH, department=roads.department, co_handlers=co_handlers),
    )
    return ticket


async def test_an_objection_is_re_dispatched_to_another_department(desk, departments):
    tickets, _ = desk
    water, roads = departments
    ticket = await objected_and_redispatched(tickets, water, roads, [water.department])
    assert (await tickets.act(roads, ticket.id, ActionRequest(Action.ACCEPT))).status == "accepted"
    with pytest.raises(NotPermitted, match="only the lead department"):
        await tickets.act(water, ticket.id, ActionRequest(Action.REPLY, text="x"))  # 协办


async def test_a_department_the_ticket_moved_away_from_no_longer_sees_it(desk, departments):
    tickets, _ = desk
    water, roads = departments
    ticket = await objected_and_redispatched(tickets, water, roads)
    with pytest.raises(TicketNotFound):
        await tickets.get(water, ticket.id)
    assert (await tickets.get(roads, ticket.id)).id == ticket.id


async def test_a_dissatisfied_callback_reopens_the_ticket(desk, departments):
    tickets, _ = desk
    ticket = await tickets.create(AGENT, water_outage())
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.ANSWER, text="知识库答复"))
    with pytest.raises(TicketInvalid, match="needs rating 不满意"):
        await tickets.act(
            AGENT, ticket.id, ActionRequest(Action.CALLBACK_DISSATISFIED, rating="满意")
        )
    reopened = await tickets.act(
        AGENT,
        ticket.id,
        ActionRequest(Action.CALLBACK_DISSATISFIED, rating="不满意", text="问题没有解决"),
    )
    assert reopened.status == "reopened" and reopened.due_at is not None


async def test_public_lookup_needs_code_and_phone_and_shows_only_the_status(desk):
    tickets, _ = desk
    ticket = await tickets.create(AGENT, water_outage(phone="13912345678"))
    found = await tickets.public_status(ticket.query_code, "13912345678")
    assert found is not None and set(found) == {"query_code", "status", "updated_at"}
    assert (found["query_code"], found["status"]) == (ticket.query_code, "registered")
    assert datetime.fromisoformat(found["updated_at"]) == ticket.updated_at
    assert await tickets.public_status(ticket.query_code, "13900000000") is None
    assert await tickets.public_status("000000000", "13912345678") is None


async def test_a_ticket_created_during_a_call_is_linked_to_it(desk, db):
    tickets, clock = desk
    call_id = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (id, channel_id, linkedid, started_at) VALUES (:i, :c, :c, :t)"
            ),
            {"i": call_id, "c": f"test-{call_id}", "t": clock.now - timedelta(minutes=3)},
        )
    ticket = await tickets.create(AGENT, water_outage(), call_id=call_id)
    second_call = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (id, channel_id, linkedid, started_at) VALUES (:i, :c, :c, :t)"
            ),
            {"i": second_call, "c": f"test-{second_call}", "t": clock.now},
        )
    await tickets.link_call(AGENT, ticket.id, second_call)  # the citizen called again
    async with db.connect() as conn:
        linked = (
            await conn.execute(
                text("SELECT call_id FROM ticket_calls WHERE ticket_id = :t"), {"t": ticket.id}
            )
        ).all()
    assert {row.call_id for row in linked} == {call_id, second_call}
