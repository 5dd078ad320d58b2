"""Finding tickets on the real PostgreSQL: combined filters, colours, paging,
sorting, a department's narrowed view, and duplicates found at intake."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from callcenter.tickets.catalogue import Catalogue, CategoryNode
from callcenter.tickets.changes import ActionRequest
from callcenter.tickets.deadlines import DeadlineConfig, Nature
from callcenter.tickets.finder import TicketFinder
from callcenter.tickets.search import TicketQuery
from callcenter.tickets.workflow import Action, NotPermitted
from callcenter.users.roles import Role
from tests.db.desk import AGENT, LEAD, SH, water_outage


@pytest.fixture
def district() -> str:
    """A district of this test's own, so other tests' tickets never match."""
    return f"测试区{uuid.uuid4().hex[:6]}"


async def test_filters_combine_and_pages_are_sorted(desk, finder, departments, district, clock):
    tickets, _ = desk
    water, _ = departments
    made = []
    for i, nature in enumerate([Nature.COMPLAINT, Nature.CONSULTATION, Nature.COMPLAINT] * 3):
        clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=SH) + timedelta(hours=i)
        made.append(
            await tickets.create(
                AGENT,
                water_outage(
                    phone=f"1390000{i:04d}", nature=nature, district=district, priority=i % 3
                ),
            )
        )
    dispatched = made[0]
    await tickets.act(
        AGENT, dispatched.id, ActionRequest(Action.DISPATCH, department=water.department)
    )

    complaints = await finder.search(
        LEAD, TicketQuery(district=district, nature=[Nature.COMPLAINT], per_page=4)
    )
    assert complaints.total == 6
    assert [t.id for t in complaints.tickets] == [
        t.id for t in made[::-1] if t.nature == "complaint"
    ][:4]
    second = await finder.search(
        LEAD, TicketQuery(district=district, nature=[Nature.COMPLAINT], per_page=4, page=2)
    )
    assert len(second.tickets) == 2 and not {t.id for t in second.tickets} & {
        t.id for t in complaints.tickets
    }
    oldest = await finder.search(LEAD, TicketQuery(district=district, sort="created_at"))
    assert [t.id for t in oldest.tickets] == [t.id for t in made]
    by_priority = await finder.search(LEAD, TicketQuery(district=district, sort="-priority"))
    assert [t.priority for t in by_priority.tickets] == sorted(
        (t.priority for t in made), reverse=True
    )
    # Status + department + caller + query code, each narrowing.
    found = await finder.search(
        LEAD, TicketQuery(district=district, status=["dispatched"], department=water.department)
    )
    assert [t.id for t in found.tickets] == [dispatched.id]
    by_phone = await finder.search(LEAD, TicketQuery(district=district, caller="13900000004"))
    assert [t.id for t in by_phone.tickets] == [made[4].id]
    by_name = await finder.search(LEAD, TicketQuery(district=district, caller="王女"))
    assert by_name.total == 9
    by_code = await finder.search(LEAD, TicketQuery(query_code=made[7].query_code))
    assert [t.id for t in by_code.tickets] == [made[7].id]
    # Local days: 2 Nov 09:00–17:00 Shanghai is all on one day.
    on_the_day = TicketQuery(
        district=district, created_from=date(2026, 11, 2), created_to=date(2026, 11, 2)
    )
    assert (await finder.search(LEAD, on_the_day)).total == 9
    next_day = TicketQuery(district=district, created_from=date(2026, 11, 3))
    assert (await finder.search(LEAD, next_day)).total == 0


async def test_colours_follow_the_deadline(desk, finder, departments, district, clock):
    tickets, _ = desk
    water, _ = departments
    clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # a Monday
    early = await tickets.create(AGENT, water_outage(district=district))  # due 21:00
    clock.now = datetime(2026, 11, 2, 18, 0, tzinfo=SH)
    late = await tickets.create(AGENT, water_outage(district=district))  # due 06:00 tomorrow
    await tickets.act(AGENT, late.id, ActionRequest(Action.DISPATCH, department=water.department))
    clock.now = datetime(2026, 11, 2, 19, 0, tzinfo=SH)

    def colour(c: str) -> TicketQuery:
        return TicketQuery(district=district, colour=c)

    # early: 2 of its 12 hours left (< 20 %) → yellow; late: dispatched, due end of Tuesday → green.
    assert [t.id for t in (await finder.search(LEAD, colour("yellow"))).tickets] == [early.id]
    assert [t.id for t in (await finder.search(LEAD, colour("green"))).tickets] == [late.id]
    assert (await finder.search(LEAD, colour("red"))).total == 0
    clock.now = datetime(2026, 11, 2, 21, 30, tzinfo=SH)
    assert [t.id for t in (await finder.search(LEAD, colour("red"))).tickets] == [early.id]


async def test_a_category_finds_its_subcategories(sessions, calendar, clock, desk, district, db):
    from sqlalchemy import text

    tickets, _ = desk
    suffix = uuid.uuid4().hex[:12]
    top, child, other = f"T{suffix}", f"T{suffix}01", f"U{suffix}"
    async with db.begin() as conn:
        for code, parent in ((top, None), (child, top), (other, None)):
            await conn.execute(
                text("INSERT INTO categories (code, name, parent_code) VALUES (:c, :c, :p)"),
                {"c": code, "p": parent},
            )
    catalogue = Catalogue(
        [],
        [
            CategoryNode(top, "城乡建设", None, ()),
            CategoryNode(child, "供水", top, ()),
            CategoryNode(other, "交通", None, ()),
        ],
    )
    finder = TicketFinder(sessions, calendar, DeadlineConfig(), catalogue, clock)
    in_child = await tickets.create(AGENT, water_outage(district=district, category_code=child))
    await tickets.create(AGENT, water_outage(district=district, category_code=other))
    found = await finder.search(LEAD, TicketQuery(district=district, category=top))
    assert [t.id for t in found.tickets] == [in_child.id]


async def test_a_department_only_finds_its_own_tickets(desk, finder, departments, district):
    tickets, _ = desk
    water, roads = departments
    mine = await tickets.create(AGENT, water_outage(district=district))
    await tickets.create(AGENT, water_outage(district=district))
    await tickets.act(AGENT, mine.id, ActionRequest(Action.DISPATCH, department=water.department))
    assert [t.id for t in (await finder.search(water, TicketQuery(district=district))).tickets] == [
        mine.id
    ]
    # Asking for another department's tickets does not widen the view.
    asked = TicketQuery(district=district, department=roads.department)
    assert (await finder.search(water, asked)).total == 0
    assert (await finder.search(roads, TicketQuery(district=district))).total == 0


async def test_words_in_the_text_find_the_ticket(desk, finder, district):
    tickets, _ = desk
    noise = await tickets.create(
        AGENT,
        water_outage(
            district=district, subject="夜间施工扰民", content="工地晚上十二点还在打桩，噪音很大"
        ),
    )
    outage = await tickets.create(AGENT, water_outage(district=district))
    found = await finder.search(LEAD, TicketQuery(district=district, text="停水"))
    assert [t.id for t in found.tickets] == [outage.id]
    found = await finder.search(LEAD, TicketQuery(district=district, text="施工噪音"))
    assert [t.id for t in found.tickets] == [noise.id]


async def test_ops_users_do_not_read_work_orders(finder):
    from callcenter.users.roles import Actor

    with pytest.raises(NotPermitted):
        await finder.search(Actor("ops-1", Role.OPS), TicketQuery())


# A realistic intake: the same matter told differently, and different matters.
SAME_MATTER = [
    ("13600000001", "幸福里小区5号楼", "幸福里小区5号楼门口的路灯坏了一个多月，晚上一片漆黑"),
    ("13600000002", "幸福里小区5号楼", "我们小区5号楼门口路灯不亮，晚上走路很危险"),
    ("13600000001", "幸福里小区", "之前反映过的路灯还是没修好，5号楼门口"),
]
DIFFERENT = [
    ("13700000003", "长江路88号", "长江路88号餐馆油烟直排，楼上住户没法开窗"),
    ("13700000004", "人民公园", "人民公园东门的公共厕所太脏了没人打扫"),
    ("13700000005", "幸福里小区", "幸福里小区物业乱收停车费"),
]


async def test_duplicates_at_intake_rank_the_same_matter_first(desk, finder, district):
    tickets, clock = desk
    # A moment of this run's own: earlier runs' identical tickets are out of the window.
    clock.now = datetime(2030, 1, 1, tzinfo=SH) + timedelta(days=100 * (uuid.uuid4().int % 5000))
    made = {}
    for phone, address, content in [*SAME_MATTER[:1], *DIFFERENT]:
        ticket = await tickets.create(
            AGENT,
            water_outage(
                phone=phone,
                address=address,
                content=content,
                subject=content[:10],
                district=district,
            ),
        )
        made[content] = ticket
    first = made[SAME_MATTER[0][2]]
    for phone, address, content in SAME_MATTER[1:]:
        found = await finder.duplicates(AGENT, phone=phone, address=address, content=content)
        ours = [c for c in found if c.ticket.district == district]
        assert ours and ours[0].ticket.id == first.id, content
        different = {made[c].id for _, _, c in DIFFERENT}
        assert not different & {c.ticket.id for c in ours}, content
    # A different matter from the same street finds nothing of the lamp.
    found = await finder.duplicates(
        AGENT, phone="13500000009", address="幸福里小区", content="幸福里小区楼下垃圾桶满了没人清运"
    )
    assert first.id not in {c.ticket.id for c in found}
    with pytest.raises(NotPermitted):
        from callcenter.users.roles import Actor

        await finder.duplicates(Actor("w", Role.DEPARTMENT, "X"), phone="1", address="", content="")
