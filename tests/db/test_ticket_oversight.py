"""督办 on the real PostgreSQL: each rule opens a record with an outbox
notification, once; records resolve when the reason goes; callbacks (回访)
are tasks, and 不满意 reopens under supervision at once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from callcenter.tickets.changes import ActionRequest
from callcenter.tickets.errors import TicketInvalid
from callcenter.tickets.oversight import SupervisionSweep
from callcenter.tickets.workflow import Action, NotPermitted
from tests.db.desk import AGENT, LEAD, SH, insert_call, water_outage


async def records(db, ticket_id, *, open_only: bool = True) -> list[tuple[str, str]]:
    where = "AND resolved_at IS NULL" if open_only else ""
    async with db.connect() as conn:
        rows = await conn.execute(
            text(
                f"SELECT reason, opened_by FROM supervisions WHERE ticket_id = :t {where} "
                "ORDER BY id"
            ),
            {"t": ticket_id},
        )
        return [tuple(r) for r in rows]


async def outbox(db, ticket_id) -> list[tuple[str, str]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT recipient, payload->>'reason' FROM outbox "
                "WHERE payload->>'ticket_id' = :t ORDER BY id"
            ),
            {"t": str(ticket_id)},
        )
        return [tuple(r) for r in rows]


@pytest.fixture
def sweep(sessions, clock) -> SupervisionSweep:
    return SupervisionSweep(sessions, clock)


async def test_an_overdue_ticket_is_supervised_once_and_released_when_it_moves(
    desk, departments, sweep, db
):
    tickets, clock = desk
    water, _ = departments
    ticket = await tickets.create(AGENT, water_outage())  # to be dispatched within 12 hours
    await sweep.run_once()
    assert await records(db, ticket.id) == []
    clock.now += timedelta(hours=13)
    await sweep.run_once()
    await sweep.run_once()  # a second round (or a second service) opens nothing more
    assert await records(db, ticket.id) == [("overdue", "sweep")]
    assert await outbox(db, ticket.id) == [("centre", "overdue")]
    # Dispatching gives a new deadline: the reason is gone at once.
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    assert await records(db, ticket.id) == []
    assert await records(db, ticket.id, open_only=False) == [("overdue", "sweep")]
    # Overdue at the department: its lead is told too.
    clock.now = datetime(2026, 10, 9, 9, 0, tzinfo=SH)  # accept was due 8 Oct (after 国庆)
    await sweep.run_once()
    assert await records(db, ticket.id) == [("overdue", "sweep")]
    assert (await outbox(db, ticket.id))[1:] == [
        ("centre", "overdue"),
        (water.department, "overdue"),
    ]


async def test_an_objection_and_a_return_are_supervised(desk, departments, db):
    tickets, _ = desk
    water, _ = departments
    ticket = await tickets.create(AGENT, water_outage())
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    await tickets.act(water, ticket.id, ActionRequest(Action.OBJECT, text="非本单位职责"))
    assert await records(db, ticket.id) == [("objected", "water-clerk")]
    await tickets.act(LEAD, ticket.id, ActionRequest(Action.RETURN, text="退回中心"))
    # No longer objected, but it came back: supervised until it is closed.
    assert await records(db, ticket.id) == [("returned", "supervisor-1")]


async def test_the_same_matter_raised_three_times_in_30_days_is_supervised(desk, db, sweep):
    tickets, clock = desk
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    first = await tickets.create(AGENT, water_outage(phone=phone))
    clock.now += timedelta(days=3)
    again = await tickets.create(AGENT, water_outage(phone=phone, content="停水还没来"))
    await tickets.act(AGENT, again.id, ActionRequest(Action.MERGE, merge_into=first.id))
    assert ("repeated", "agent-1001") not in await records(db, first.id)  # twice: not yet
    clock.now += timedelta(days=3)
    call = await insert_call(db, clock.now, phone)
    await tickets.link_call(AGENT, first.id, call)  # a third call about it
    # (It is overdue too: nobody dispatched it in 12 hours.)
    assert await records(db, first.id) == [("overdue", "agent-1001"), ("repeated", "agent-1001")]
    # A month later the three raises have aged out of the window.
    clock.now += timedelta(days=40)
    await sweep.run_once()
    assert ("repeated", "agent-1001") not in await records(db, first.id)


async def test_a_callback_task_is_created_done_and_dissatisfaction_reopens_under_supervision(
    desk, finder, departments, db
):
    tickets, _ = desk
    ticket = await tickets.create(AGENT, water_outage())
    answered = await tickets.act(AGENT, ticket.id, ActionRequest(Action.ANSWER, text="已答复"))
    assert answered.status == "awaiting_callback"
    assert answered.due_at == datetime(2026, 10, 9, 23, 59, 59, tzinfo=SH)  # 2 working days
    due = [task for task, _ in await finder.callbacks_due(AGENT, query_code=ticket.query_code)]
    assert len(due) == 1 and due[0].status == "open"
    reopened = await tickets.act(
        AGENT,
        ticket.id,
        ActionRequest(Action.CALLBACK_DISSATISFIED, rating="不满意", text="水还是没来"),
    )
    assert reopened.status == "reopened"
    assert await records(db, ticket.id) == [("dissatisfied", "agent-1001")]
    assert ("centre", "dissatisfied") in await outbox(db, ticket.id)
    async with db.connect() as conn:
        task = (
            await conn.execute(
                text("SELECT status, rating, notes, done_by FROM ticket_callbacks WHERE id = :i"),
                {"i": due[0].id},
            )
        ).one()
    assert tuple(task) == ("done", "不满意", "水还是没来", "agent-1001")
    assert await finder.callbacks_due(AGENT, query_code=ticket.query_code) == []
    # Handled again and rated satisfied: closed, and the supervision ends.
    water, _ = departments
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    await tickets.act(water, ticket.id, ActionRequest(Action.ACCEPT))
    await tickets.act(water, ticket.id, ActionRequest(Action.REPLY, text="已更换水泵"))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.APPROVE_REPLY))
    closed = await tickets.act(
        AGENT, ticket.id, ActionRequest(Action.CALLBACK_SATISFIED, rating="基本满意")
    )
    assert closed.status == "closed"
    assert await records(db, ticket.id) == []
    assert await records(db, ticket.id, open_only=False) == [("dissatisfied", "agent-1001")]


async def test_a_leader_instruction_flags_the_ticket(desk, db):
    tickets, _ = desk
    ticket = await tickets.create(AGENT, water_outage())
    with pytest.raises(NotPermitted):
        await tickets.act(AGENT, ticket.id, ActionRequest(Action.INSTRUCT, text="x"))
    with pytest.raises(TicketInvalid, match="needs text"):
        await tickets.act(LEAD, ticket.id, ActionRequest(Action.INSTRUCT))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.ESCALATE, text="群众反映强烈，呈报"))
    flagged = await tickets.act(
        LEAD, ticket.id, ActionRequest(Action.INSTRUCT, text="请水务局三日内解决并回复")
    )
    assert flagged.flags == ["leader"] and flagged.status == "registered"
    media = await tickets.act(LEAD, ticket.id, ActionRequest(Action.FLAG, flag="media"))
    assert media.flags == ["leader", "media"]
    assert await records(db, ticket.id) == [("flagged", "supervisor-1")]
    trail = [(e.action, e.detail) for e in await tickets.events(LEAD, ticket.id)]
    assert ("instruct", {"flag": "leader", "text": "请水务局三日内解决并回复"}) in trail
