"""Every answer carrying personal data is on record before it is sent; if the
record cannot be written, nothing is sent. The routes run in this process on
the real PostgreSQL (tests/db/access_app.py)."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest
from sqlalchemy import text

from callcenter.audit.access_log import ReasonRequired
from callcenter.users.roles import Actor, Role
from callcenter.web.problems import status_for
from tests.db.access_app import BrokenLog, running
from tests.db.desk import AGENT, insert_call, water_outage

# A reason owed and not given: refused with the problem naming `reason`.
NO_REASON = status_for(ReasonRequired("reason: required"))


def unique_phone() -> str:
    return f"139{uuid.uuid4().int % 10**8:08d}"


async def log_rows(db, actor: str) -> list:
    async with db.connect() as conn:
        result = await conn.execute(
            text("SELECT * FROM access_log WHERE actor = :a ORDER BY id"), {"a": actor}
        )
        return list(result)


@pytest.fixture
def people() -> dict[str, Actor]:
    tag = uuid.uuid4().hex[:6]
    return {
        "agent": Actor(f"agent-{tag}", Role.AGENT),
        "auditor": Actor(f"auditor-{tag}", Role.AUDITOR),
        "admin": Actor(f"admin-{tag}", Role.ADMIN),
    }


async def test_a_ticket_read_is_on_record_with_who_what_where_and_why(
    db, sessions, desk, finder, people
):
    service, _ = desk
    phone = unique_phone()
    ticket = await service.create(AGENT, water_outage(phone))
    async with running(sessions, service, finder) as (client, tokens):
        agent = tokens.headers(people["agent"])
        async with client.get(f"/api/v1/tickets/{ticket.id}", headers=agent) as resp:
            assert resp.status == 200 and (await resp.json())["caller_phone"] == phone
        [row] = await log_rows(db, people["agent"].name)
        assert (row.role, row.client_addr, row.subject, row.subject_id, row.action) == (
            "agent",
            "127.0.0.1",
            "ticket",
            str(ticket.id),
            "read",
        )
        assert row.detail == {
            "route": "GET /api/v1/tickets/{ticket_id}",
            "ids": [str(ticket.id)],
            "unmasked": 1,
        }
        assert row.reason is None

        auditor = tokens.headers(people["auditor"])
        async with client.get(f"/api/v1/tickets/{ticket.id}", headers=auditor) as resp:
            assert resp.status == NO_REASON
            problem = await resp.json()
        assert problem["detail"].startswith("reason: required")
        assert await log_rows(db, people["auditor"].name) == []
        for path in (f"/api/v1/tickets/{ticket.id}", f"/api/v1/tickets/{ticket.id}/events"):
            async with client.get(path, headers=auditor, params={"reason": "投诉复核"}) as resp:
                assert resp.status == 200
                assert phone not in await resp.text()  # masked for auditors, and logged
        rows = await log_rows(db, people["auditor"].name)
        assert [(r.action, r.reason, r.detail["unmasked"], r.detail["route"]) for r in rows] == [
            ("read", "投诉复核", 0, "GET /api/v1/tickets/{ticket_id}"),
            ("read", "投诉复核", 0, "GET /api/v1/tickets/{ticket_id}/events"),
        ]


async def test_searches_lists_and_changes_are_on_record_with_the_tickets_they_showed(
    db, sessions, desk, finder, people
):
    service, _ = desk
    phone = unique_phone()
    district = f"测试区{uuid.uuid4().hex[:6]}"
    first = await service.create(AGENT, water_outage(phone, district=district))
    second = await service.create(AGENT, water_outage(phone, district=district, confidential=True))
    async with running(sessions, service, finder) as (client, tokens):
        agent = tokens.headers(people["agent"])
        async with client.get("/api/v1/tickets", headers=agent, params={"caller": phone}) as resp:
            assert resp.status == 200 and (await resp.json())["total"] == 1
        mine = {"district": district, "sort": "created_at"}
        async with client.get("/api/v1/tickets", headers=agent, params=mine) as resp:
            assert resp.status == 200 and (await resp.json())["total"] == 2
        body = {"caller_phone": phone, "address": "阳光花园3栋", "content": "停水"}
        async with client.post("/api/v1/tickets/duplicates", json=body, headers=agent) as resp:
            assert resp.status == 200
            candidates = [c["ticket"] for c in await resp.json()]
        shown = {t["id"] for t in candidates}
        in_full = sum(1 for t in candidates if "*" not in t["caller_phone"])
        assert str(first.id) in shown
        patch = {"expected_version": first.version, "subject": "小区停水三天"}
        async with client.patch(f"/api/v1/tickets/{first.id}", json=patch, headers=agent) as resp:
            assert resp.status == 200
        [searched, by_district, listed, changed] = await log_rows(db, people["agent"].name)
    assert (searched.action, searched.detail["filters"], searched.detail["total"]) == (
        "search",
        {"caller": phone},
        1,
    )
    assert searched.detail["ids"] == [str(first.id)]  # the confidential one is not found by phone
    # The confidential caller is shown to an agent masked: on record as shown, not in full.
    assert set(by_district.detail["ids"]) == {str(first.id), str(second.id)}
    assert by_district.detail["unmasked"] == 1
    assert listed.action == "list" and set(listed.detail["ids"]) == shown
    assert listed.detail["unmasked"] == in_full  # masked ones are on record as shown masked
    assert (changed.action, changed.subject_id, changed.detail["route"]) == (
        "read",
        str(first.id),
        "PATCH /api/v1/tickets/{ticket_id}",
    )


async def test_call_records_for_an_auditor_need_a_reason_and_are_on_record(
    db, sessions, desk, finder, people
):
    service, clock = desk
    call_id = await insert_call(db, clock(), unique_phone())
    async with running(sessions, service, finder) as (client, tokens):
        auditor = tokens.headers(people["auditor"])
        async with client.get("/api/v1/calls", headers=auditor) as resp:
            assert resp.status == NO_REASON and "reason" in (await resp.json())["detail"]
        params = {"reason": "质检抽查", "limit": "500"}
        async with client.get("/api/v1/calls", headers=auditor, params=params) as resp:
            assert resp.status == 200
            ids = [c["id"] for c in await resp.json()]
    assert str(call_id) in ids
    [row] = await log_rows(db, people["auditor"].name)
    assert (row.subject, row.action, row.reason, row.client_addr) == (
        "call",
        "list",
        "质检抽查",
        "127.0.0.1",
    )
    assert row.detail["ids"] == ids and row.detail["unmasked"] == 0


async def test_when_the_log_cannot_be_written_no_personal_data_is_sent(
    db, sessions, desk, finder, people, tmp_path, monkeypatch
):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    service, clock = desk
    phone = unique_phone()
    ticket = await service.create(AGENT, water_outage(phone))
    await insert_call(db, clock(), phone)
    broken = BrokenLog()
    async with running(sessions, service, finder, writer=lambda _: broken) as (client, tokens):
        agent = tokens.headers(people["agent"])
        reads = [
            ("GET", f"/api/v1/tickets/{ticket.id}", {}, None),
            ("GET", f"/api/v1/tickets/{ticket.id}/events", {}, None),
            ("GET", "/api/v1/tickets", {"caller": phone}, None),
            ("GET", "/api/v1/tickets/export", {"caller": phone, "reason": "月报"}, None),
            (
                "GET",
                "/api/v1/tickets/export",
                {"caller": phone, "reason": "月报", "format": "xlsx"},
                None,
            ),
            ("GET", "/api/v1/calls", {"caller": phone}, None),
            ("POST", "/api/v1/tickets/duplicates", {}, {"caller_phone": phone}),
        ]
        for method, path, params, body in reads:
            async with client.request(
                method, path, params=params, json=body, headers=agent
            ) as resp:
                text_sent = await resp.text()
                assert resp.status == 503, (path, text_sent)
                assert resp.content_type == "application/problem+json"
            assert phone not in text_sent and "王女士" not in text_sent, path
            assert "access log cannot be written" in json.loads(text_sent)["detail"]
        new = {"nature": "complaint", "subject": "停水", "content": "又停水", "caller_phone": phone}
        async with client.post("/api/v1/tickets", json=new, headers=agent) as resp:
            assert resp.status == 503
            said = await resp.json()
        assert phone not in json.dumps(said, ensure_ascii=False)
        assert said["detail"].startswith("the change was saved, but its result is not shown")
    assert len(broken.tried) == len(reads) + 1
    assert list(tmp_path.iterdir()) == []  # the exports built were thrown away


async def test_the_access_log_is_read_by_auditors_and_admins_and_reading_it_is_logged(
    db, sessions, desk, finder, people
):
    service, _ = desk
    ticket = await service.create(AGENT, water_outage(unique_phone()))
    async with running(sessions, service, finder) as (client, tokens):
        agent = tokens.headers(people["agent"])
        async with client.get(f"/api/v1/tickets/{ticket.id}", headers=agent) as resp:
            assert resp.status == 200
        async with client.get("/api/v1/access-log", headers=agent) as resp:
            assert resp.status == 403
        auditor = tokens.headers(people["auditor"])
        about = {"subject_id": str(ticket.id)}
        async with client.get("/api/v1/access-log", headers=auditor, params=about) as resp:
            assert resp.status == NO_REASON and "reason" in (await resp.json())["detail"]
        async with client.get(
            "/api/v1/access-log", headers=auditor, params={**about, "reason": "投诉核查"}
        ) as resp:
            assert resp.status == 200
            found = await resp.json()
        assert [(e["actor"], e["action"], e["client_addr"]) for e in found["entries"]] == [
            (people["agent"].name, "read", "127.0.0.1")
        ]
        admin = tokens.headers(people["admin"])
        params = {"actor": people["auditor"].name, "format": "csv"}
        async with client.get("/api/v1/access-log/export", headers=admin, params=params) as resp:
            assert resp.status == NO_REASON and "reason" in (await resp.json())["detail"]
        params["reason"] = "年度审计"
        async with client.get("/api/v1/access-log/export", headers=admin, params=params) as resp:
            assert resp.status == 200 and resp.headers["X-Export-Rows"] == "1"
            table = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert table[0][:3] == ["时间", "用户", "角色"] and table[1][1:3] == [
        people["auditor"].name,
        "auditor",
    ]
    [read_log] = await log_rows(db, people["auditor"].name)
    assert (read_log.subject, read_log.action, read_log.reason) == (
        "access_log",
        "search",
        "投诉核查",
    )
    assert read_log.detail["filters"] == about and read_log.detail["total"] == 1
    [exported] = await log_rows(db, people["admin"].name)
    assert (exported.action, exported.reason, exported.detail["rows"]) == ("export", "年度审计", 1)


async def test_an_auditor_reads_the_phones_others_searched_for_masked(
    db, sessions, desk, finder, people
):
    """The log keeps the agent's search filters; an auditor (who sees citizens
    masked) must not read a full phone number back out of them."""
    phone = unique_phone()
    async with running(sessions, desk[0], finder) as (client, tokens):
        agent = tokens.headers(people["agent"])
        async with client.get("/api/v1/tickets", headers=agent, params={"caller": phone}) as resp:
            assert resp.status == 200
        about = {"actor": people["agent"].name, "reason": "投诉核查"}
        seen: dict[str, str] = {}
        for who in ("auditor", "admin"):
            headers = tokens.headers(people[who])
            async with client.get("/api/v1/access-log", headers=headers, params=about) as resp:
                assert resp.status == 200
                [entry] = (await resp.json())["entries"]
                seen[who] = entry["detail"]["filters"]["caller"]
            export = {**about, "format": "csv"}
            async with client.get(
                "/api/v1/access-log/export", headers=headers, params=export
            ) as resp:
                assert resp.status == 200
                assert (phone in (await resp.read()).decode("utf-8-sig")) == (who == "admin")
    assert seen == {"auditor": "*******" + phone[-4:], "admin": phone}
