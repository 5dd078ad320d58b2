"""判重 at intake for an agent who sees confidential callers masked: the score and
the list say nothing of whether a guessed phone is the caller's."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tests.db.desk import AGENT, LEAD, SH, water_outage


async def test_a_masked_callers_phone_moves_neither_score_nor_list(desk, finder):
    tickets, clock = desk
    # A moment of this run's own: earlier runs' tickets are out of the window.
    clock.now = datetime(2031, 1, 1, tzinfo=SH) + timedelta(days=100 * (uuid.uuid4().int % 5000))
    district = f"判重保密{uuid.uuid4().hex[:6]}"
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    content = "幸福里小区三号楼电梯困人，物业电话打不通"
    right, wrong = [
        await tickets.create(
            AGENT,
            water_outage(phone=p, content=content, district=district, confidential=True),
        )
        for p in (phone, "13700000000")
    ]

    async def shown(who):
        found = await finder.duplicates(who, phone=phone, address="", content=content)
        return {c.ticket.id: c.score for c in found if c.ticket.district == district}

    as_agent = await shown(AGENT)
    assert set(as_agent) == {right.id, wrong.id}
    assert as_agent[right.id].score == as_agent[wrong.id].score  # the guess moves nothing
    assert not as_agent[right.id].same_phone
    as_lead = await shown(LEAD)  # a supervisor sees the caller: the phone counts
    assert as_lead[right.id].score - as_lead[wrong.id].score == 0.25

    # Wording too far off alone (0.6 × 0.44): the right phone (+0.25) lifts the
    # ticket over the threshold for the supervisor, and must not for the agent.
    nearby = {"phone": phone, "address": "", "content": "三号楼电梯坏了好几天"}
    assert right.id in {c.ticket.id for c in await finder.duplicates(LEAD, **nearby)}
    assert right.id not in {c.ticket.id for c in await finder.duplicates(AGENT, **nearby)}
