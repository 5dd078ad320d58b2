"""Edges of the desk on the real PostgreSQL: steps that must not break the
callback, the extension or the repeat count, and personal data that must not
leak through edits, searches or the audit trail."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from callcenter.tickets.changes import ActionRequest
from callcenter.tickets.search import TicketQuery
from callcenter.tickets.workflow import Action, NotPermitted
from callcenter.users.roles import Actor, Role
from tests.db.desk import AGENT, LEAD, insert_call, water_outage

AUDITOR = Actor("auditor-1", Role.AUDITOR)


async def test_escalating_a_ticket_awaiting_its_callback_keeps_one_task(desk, finder):
    tickets, _ = desk
    ticket = await tickets.create(AGENT, water_outage())
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.ANSWER, text="已答复"))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.ESCALATE, text="呈报"))
    await tickets.act(LEAD, ticket.id, ActionRequest(Action.FLAG, flag="media"))
    tasks = await finder.callbacks_due(AGENT, query_code=ticket.query_code)
    assert len(tasks) == 1


async def test_after_a_rejected_reply_the_department_can_still_ask_for_time(desk, departments):
    tickets, _ = desk
    water, _ = departments
    ticket = await tickets.create(AGENT, water_outage())
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    await tickets.act(water, ticket.id, ActionRequest(Action.ACCEPT))
    await tickets.act(water, ticket.id, ActionRequest(Action.REPLY, text="已处理"))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.REJECT_REPLY, text="未见现场照片"))
    asked = await tickets.act(
        water,
        ticket.id,
        ActionRequest(Action.REQUEST_EXTENSION, extension_days=2, text="补充材料"),
    )
    assert asked.status == "accepted"
    [dispatch] = await tickets.dispatches(LEAD, ticket.id)
    assert (dispatch.state, dispatch.extension_requested) == ("accepted", 2)


async def test_a_merged_ticket_leaves_its_department_and_its_calls_count_for_the_matter(
    desk, departments, db
):
    tickets, clock = desk
    water, _ = departments
    matter = await tickets.create(AGENT, water_outage())
    copy = await tickets.create(AGENT, water_outage(content="还是停水"))
    await tickets.act(AGENT, copy.id, ActionRequest(Action.DISPATCH, department=water.department))
    clock.now += timedelta(hours=1)
    await tickets.link_call(AGENT, copy.id, await insert_call(db, clock.now))
    await tickets.act(AGENT, copy.id, ActionRequest(Action.MERGE, merge_into=matter.id))
    [dispatch] = await tickets.dispatches(LEAD, copy.id)
    assert dispatch.state == "superseded"  # the department is not chased for a copy
    async with db.connect() as conn:
        reasons = (
            await conn.execute(
                text(
                    "SELECT reason FROM supervisions WHERE ticket_id = :t AND resolved_at IS NULL"
                ),
                {"t": matter.id},
            )
        ).scalars()
        # Raised by its own creation, the copy's creation and the call linked to the copy.
        assert "repeated" in list(reasons)


async def test_only_leads_lift_confidentiality(desk):
    tickets, _ = desk
    ticket = await tickets.create(AGENT, water_outage(confidential=True))
    with pytest.raises(NotPermitted, match="confidential"):
        await tickets.edit(AGENT, ticket.id, {"confidential": False}, expected_version=1)
    with pytest.raises(NotPermitted, match="confidential"):
        await tickets.edit(AGENT, ticket.id, {"caller_phone": "13900000000"}, expected_version=1)
    edited = await tickets.edit(LEAD, ticket.id, {"caller_name": "王某"}, expected_version=1)
    assert edited.caller_name == "王某"
    lifted = await tickets.edit(LEAD, ticket.id, {"confidential": False}, expected_version=2)
    assert lifted.confidential is False


async def test_masked_roles_cannot_search_by_caller_nor_find_a_confidential_caller(desk, finder):
    tickets, _ = desk
    phone = f"139{uuid.uuid4().int % 10**8:08d}"  # earlier runs' tickets keep theirs
    secret = await tickets.create(
        AGENT, water_outage(phone=phone, confidential=True, district="保密测试区")
    )
    with pytest.raises(NotPermitted, match="by caller"):
        await finder.search(AUDITOR, TicketQuery(caller=phone))
    by_agent = await finder.search(AGENT, TicketQuery(caller=phone))
    assert by_agent.tickets == []
    by_lead = await finder.search(LEAD, TicketQuery(caller=phone))
    assert secret.id in [t.id for t in by_lead.tickets]
