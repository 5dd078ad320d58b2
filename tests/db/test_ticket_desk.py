"""The rest of the desk on the real PostgreSQL: knowledge base answers, 并单
keeping calls and history, 延期 with approval, completing a voicemail stub,
the IVR's lookup and the catalogue kept in step with its file."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from callcenter.recording.store import NewVoicemail
from callcenter.tickets.catalogue import load_catalogue, sync_catalogue
from callcenter.tickets.changes import ActionRequest
from callcenter.tickets.deadlines import Nature
from callcenter.tickets.errors import TicketChanged, TicketInvalid
from callcenter.tickets.intake import AlreadyTicketed, adopt_voicemails, voicemail_to_ticket
from callcenter.tickets.knowledge import KbChanged, KbDraft, KbInvalid, KnowledgeBase
from callcenter.tickets.lookup import DbTicketLookup
from callcenter.tickets.workflow import Action, IllegalTicketTransition, NotPermitted
from tests.db.desk import AGENT, LEAD, SH, insert_call, water_outage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kb(sessions, clock) -> KnowledgeBase:
    return KnowledgeBase(sessions, clock)


def entry(question: str, answer: str, **kw) -> KbDraft:
    return KbDraft(**{"valid_from": date(2025, 1, 1), **kw}, question=question, answer=answer)


async def test_the_knowledge_base_finds_answers_in_chinese_ranked(kb):
    tag = uuid.uuid4().hex[:6]  # keeps this test's entries apart from others'
    medical = await kb.add(
        "ops-1",
        entry(
            f"新生儿医保怎么办理 {tag}",
            "出生后90天内携带出生证明和户口本到社区事务受理中心办理参保登记。",
            tags=("医保", "新生儿"),
        ),
    )
    fund = await kb.add(
        "ops-1", entry(f"公积金提取需要什么材料 {tag}", "身份证、银行卡，租房提取另需租赁合同。")
    )
    expired = await kb.add(
        "ops-1",
        entry(
            f"2025年医保缴费时间 {tag}",
            "2025年度城乡居民医保缴费截止12月31日。",
            valid_to=date(2025, 12, 31),
        ),
    )
    # Earlier runs' entries stay in the database and may outrank ours: rank
    # this test's own entries among all that match.
    hits = await kb.search(f"孩子刚出生医保在哪里办 {tag}", date(2026, 11, 28), limit=100_000)
    mine = {medical.id, fund.id, expired.id}
    ids = [h.entry.id for h in hits if h.entry.id in mine]
    assert ids[0] == medical.id
    assert expired.id not in ids  # no longer valid
    assert fund.id in ids and ids.index(fund.id) > ids.index(medical.id)  # only the tag
    assert [h.entry.id for h in await kb.search(f"医保缴费 {tag}", date(2025, 6, 1))][:1] == [
        expired.id
    ]
    assert await kb.search("，。！", date(2026, 11, 28)) == []


async def test_knowledge_base_edits_are_versioned_and_checked(kb):
    question = f"垃圾分类投放时间 {uuid.uuid4().hex[:6]}"  # apart from earlier runs' entry
    added = await kb.add("ops-1", entry(question, "早7点到9点，晚6点到8点。"))
    changed = await kb.update("ops-2", added.id, entry(question, "早6点半到9点，晚6点到9点。"), 1)
    assert (changed.version, changed.updated_by) == (2, "ops-2")
    with pytest.raises(KbChanged):
        await kb.update("ops-3", added.id, entry(question, "x"), 1)
    with pytest.raises(KbInvalid, match="before valid_from"):
        await kb.add("ops-1", entry("q", "a", valid_to=date(2024, 12, 31)))
    with pytest.raises(KbInvalid, match="unknown department"):
        await kb.add("ops-1", entry("q", "a", department_code="NOPE"))
    # An empty code names no department either (it was stored, and the database's
    # foreign key answered: a 500 the API contract test found).
    with pytest.raises(KbInvalid, match="unknown department ''"):
        await kb.add("ops-1", entry("q", "a", department_code=""))
    [hit, *_] = await kb.search(f"垃圾分类什么时候投放 {question[-6:]}", date(2026, 11, 28))
    assert (hit.entry.id, hit.entry.answer) == (added.id, "早6点半到9点，晚6点到9点。")


async def test_a_consultation_answered_from_the_knowledge_base_records_the_entry(desk, kb):
    tickets, _ = desk
    answer = await kb.add("ops-1", entry("居住证怎么办理", "到居住地派出所申报登记。"))
    old = await kb.add("ops-1", entry("旧政策", "作废", valid_to=date(2026, 6, 30)))
    ticket = await tickets.create(
        AGENT, water_outage(nature=Nature.CONSULTATION, subject="居住证", content="居住证怎么办")
    )
    with pytest.raises(TicketInvalid, match="not valid on 2026-09-30"):
        await tickets.act(AGENT, ticket.id, ActionRequest(Action.ANSWER, kb_entry_id=old.id))
    answered = await tickets.act(
        AGENT, ticket.id, ActionRequest(Action.ANSWER, kb_entry_id=answer.id)
    )
    assert answered.kb_entry_id == answer.id and answered.status == "awaiting_callback"
    [*_, event] = await tickets.events(LEAD, ticket.id)
    assert event.detail == {"kb_entry_id": answer.id}


async def test_a_merge_keeps_the_calls_and_both_histories(desk, db):
    tickets, clock = desk
    first_call = await insert_call(db, clock.now)
    first = await tickets.create(AGENT, water_outage(), call_id=first_call)
    clock.now += timedelta(hours=2)
    second_call = await insert_call(db, clock.now)
    duplicate = await tickets.create(AGENT, water_outage(content="还是停水"), call_id=second_call)
    with pytest.raises(TicketInvalid, match="another ticket"):
        await tickets.act(AGENT, duplicate.id, ActionRequest(Action.MERGE, merge_into=duplicate.id))
    merged = await tickets.act(
        AGENT, duplicate.id, ActionRequest(Action.MERGE, merge_into=first.id)
    )
    assert merged.status == "merged" and merged.merged_into == first.id
    async with db.connect() as conn:
        calls = (
            await conn.execute(
                text("SELECT call_id FROM ticket_calls WHERE ticket_id = :t"), {"t": first.id}
            )
        ).scalars()
        assert set(calls) == {first_call, second_call}
    assert [e.action for e in await tickets.events(LEAD, duplicate.id)] == ["create", "merge"]
    assert [e.action for e in await tickets.events(LEAD, first.id)] == ["create", "merged_in"]
    # The citizen of the duplicate follows the matter under its own code.
    found = await tickets.public_status(duplicate.query_code, "13800001111")
    assert found is not None and found["query_code"] == duplicate.query_code
    third = await tickets.create(AGENT, water_outage())
    with pytest.raises(TicketInvalid, match="merge into an open one"):
        await tickets.act(AGENT, third.id, ActionRequest(Action.MERGE, merge_into=duplicate.id))


async def test_an_extension_is_asked_for_and_approved_within_the_cap(desk, departments):
    tickets, clock = desk
    water, _ = departments
    ticket = await tickets.create(AGENT, water_outage(nature=Nature.CONSULTATION))
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    clock.now = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # Monday
    accepted = await tickets.act(water, ticket.id, ActionRequest(Action.ACCEPT))
    assert accepted.due_at == datetime(2026, 11, 9, 23, 59, 59, tzinfo=SH)  # 5 working days
    ask = ActionRequest(Action.REQUEST_EXTENSION, extension_days=3, text="需协调供电部门")
    with pytest.raises(TicketInvalid, match="1 to 10"):
        await tickets.act(
            water, ticket.id, ActionRequest(Action.REQUEST_EXTENSION, extension_days=11, text="x")
        )
    await tickets.act(water, ticket.id, ask)
    with pytest.raises(TicketInvalid, match="awaits approval"):
        await tickets.act(water, ticket.id, ask)
    with pytest.raises(NotPermitted):
        await tickets.act(water, ticket.id, ActionRequest(Action.APPROVE_EXTENSION))
    approved = await tickets.act(LEAD, ticket.id, ActionRequest(Action.APPROVE_EXTENSION))
    assert approved.due_at == datetime(2026, 11, 12, 23, 59, 59, tzinfo=SH)  # +3 working days
    with pytest.raises(TicketInvalid, match="no extension request"):
        await tickets.act(LEAD, ticket.id, ActionRequest(Action.APPROVE_EXTENSION))
    await tickets.act(
        water,
        ticket.id,
        ActionRequest(Action.REQUEST_EXTENSION, extension_days=7, text="再延"),
    )
    refused = await tickets.act(LEAD, ticket.id, ActionRequest(Action.REJECT_EXTENSION))
    assert refused.due_at == approved.due_at
    with pytest.raises(TicketInvalid, match="1 to 7"):  # 3 of 10 already granted
        await tickets.act(
            water, ticket.id, ActionRequest(Action.REQUEST_EXTENSION, extension_days=8, text="x")
        )


async def stored_voicemail(db, call_id: uuid.UUID, at: datetime) -> uuid.UUID:
    """A message as the IVR stores it (recording + voicemail rows), without a ticket."""
    recording_id, voicemail_id = uuid.uuid4(), uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO recordings (id, call_id, kind, name, format, started_at, "
                "size_bytes, sha256) VALUES (:r, :c, 'voicemail', :n, 'wav', :t, 10, :s)"
            ),
            {"r": recording_id, "c": call_id, "n": f"vm-{voicemail_id}", "t": at, "s": "ab" * 32},
        )
        await conn.execute(
            text(
                "INSERT INTO voicemails (id, call_id, recording_id, caller_number, flow, node, "
                "created_at) VALUES (:v, :c, :r, '13655556666', '12345', 'leave', :t)"
            ),
            {"v": voicemail_id, "c": call_id, "r": recording_id, "t": at},
        )
    return voicemail_id


async def test_a_voicemail_becomes_a_ticket_the_agent_completes(desk, db):
    tickets, clock = desk
    call_id = await insert_call(db, clock.now, "13655556666")
    voicemail_id = await stored_voicemail(db, call_id, clock.now)
    hook = voicemail_to_ticket(tickets)
    message = NewVoicemail(voicemail_id, call_id, "13655556666", f"vm-{voicemail_id}", "ab" * 32)
    await hook(message)
    with pytest.raises(AlreadyTicketed):  # twice (the hook and a sweep racing): one ticket
        await hook(message)
    async with db.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT v.status, t.id, t.channel, t.caller_phone, t.status AS ticket_status "
                    "FROM voicemails v JOIN tickets t ON t.id = v.ticket_id WHERE v.id = :v"
                ),
                {"v": voicemail_id},
            )
        ).one()
        linked = (
            await conn.execute(
                text("SELECT call_id FROM ticket_calls WHERE ticket_id = :t"), {"t": row.id}
            )
        ).scalar_one()
    assert (row.status, row.channel, row.caller_phone, row.ticket_status) == (
        "ticket",
        "voicemail",
        "13655556666",
        "registered",
    )
    assert linked == call_id
    # The agent listens and completes it; only the centre, only before dispatch.
    edited = await tickets.edit(
        AGENT,
        row.id,
        {"nature": "complaint", "subject": "噪音扰民", "content": "楼下商铺音响太吵"},
        expected_version=1,
    )
    assert (edited.nature, edited.subject, edited.version) == ("complaint", "噪音扰民", 2)
    with pytest.raises(TicketChanged):
        await tickets.edit(AGENT, row.id, {"subject": "x"}, expected_version=1)
    with pytest.raises(TicketInvalid, match="cannot edit status"):
        await tickets.edit(AGENT, row.id, {"status": "closed"}, expected_version=2)
    [*_, event] = await tickets.events(LEAD, row.id)
    assert event.action == "edit" and event.before["subject"].startswith("语音留言")
    await tickets.act(AGENT, row.id, ActionRequest(Action.ANSWER, text="已告知"))
    with pytest.raises(IllegalTicketTransition, match="cannot be edited"):
        await tickets.edit(AGENT, row.id, {"subject": "y"}, expected_version=3)


async def test_a_message_whose_ticket_was_not_written_gets_one_on_the_next_round(
    desk, sessions, db
):
    tickets, clock = desk
    call_id = await insert_call(db, clock.now, "13655556666")
    voicemail_id = await stored_voicemail(db, call_id, clock.now)
    await adopt_voicemails(tickets, sessions, clock.now)
    async with db.connect() as conn:
        still = (
            await conn.execute(
                text("SELECT ticket_id FROM voicemails WHERE id = :v"), {"v": voicemail_id}
            )
        ).scalar_one()
    assert still is None  # the live hook may still be at it
    await adopt_voicemails(tickets, sessions, clock.now + timedelta(minutes=2))
    async with db.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT v.status, t.channel FROM voicemails v "
                    "JOIN tickets t ON t.id = v.ticket_id WHERE v.id = :v"
                ),
                {"v": voicemail_id},
            )
        ).one()
    assert tuple(row) == ("ticket", "voicemail")
    assert await adopt_voicemails(tickets, sessions, clock.now + timedelta(minutes=3)) == 0


async def test_the_ivr_lookup_speaks_the_real_status(desk, departments, calendar):
    tickets, clock = desk
    water, _ = departments
    lookup = DbTicketLookup(tickets.sessions, calendar)
    ticket = await tickets.create(AGENT, water_outage())
    assert (await lookup.status(ticket.query_code)).status == "received"
    await tickets.act(AGENT, ticket.id, ActionRequest(Action.DISPATCH, department=water.department))
    clock.now = datetime(2026, 10, 8, 9, 0, tzinfo=SH)
    await tickets.act(water, ticket.id, ActionRequest(Action.ACCEPT))
    spoken = await lookup.status(ticket.query_code)
    assert (spoken.status, spoken.updated) == ("processing", date(2026, 10, 8))
    wrong_digit = ticket.query_code[:-1] + str((int(ticket.query_code[-1]) + 1) % 10)
    assert await lookup.status(wrong_digit) is None


async def test_the_catalogue_is_kept_in_step_with_its_file(sessions, db, tmp_path):
    catalogue = load_catalogue(ROOT / "config" / "catalogue.yaml")
    await sync_catalogue(sessions, catalogue)
    await sync_catalogue(sessions, catalogue)  # twice is the same
    async with db.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT name, parent_code, districts, active FROM departments "
                    "WHERE code = 'SWJ-GX'"
                )
            )
        ).one()
        assert tuple(row) == ("高新区水务分局", "SWJ", ["高新区"], True)
        category = (
            await conn.execute(
                text("SELECT parent_code, departments FROM categories WHERE code = '0101'")
            )
        ).one()
        assert tuple(category) == ("01", ["SWJ"])
    smaller = tmp_path / "catalogue.yaml"
    smaller.write_text(
        (ROOT / "config" / "catalogue.yaml")
        .read_text(encoding="utf-8")
        .replace("      - {code: SWJ-DC, name: 东城区水务分局, districts: [东城区]}\n", ""),
        encoding="utf-8",
    )
    await sync_catalogue(sessions, load_catalogue(smaller))
    async with db.connect() as conn:
        active = (
            await conn.execute(text("SELECT active FROM departments WHERE code = 'SWJ-DC'"))
        ).scalar_one()
    assert active is False  # kept for old tickets, no longer offered
    await sync_catalogue(sessions, catalogue)
