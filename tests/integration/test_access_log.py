"""Every read of personal data is on record, against the running service: who
(user, role, client address), what (the ticket, the search with its filters,
the export with its row count, the call records) and why (auditors and exports
give a reason), written before the answer is sent; when it cannot be written,
nothing is sent. Auditors and admins read the log, and that is logged too."""

from __future__ import annotations

import csv
import io
import uuid

import aiohttp
import pytest
from sqlalchemy import text

from callcenter.audit.access_log import ReasonRequired
from callcenter.web.problems import status_for
from tests.db.desk import insert_call
from tests.integration.stack import HTTP, add_user, token

NO_REASON = status_for(ReasonRequired("reason: required"))


@pytest.fixture
async def staff(service, database_url):
    """An agent, an auditor and an admin of this test, signed in."""
    suffix = uuid.uuid4().hex[:6]
    names = {"agent": f"agent{suffix}", "auditor": f"aud{suffix}", "admin": f"adm{suffix}"}
    for role, name in names.items():
        await add_user(database_url, name, role)
    async with aiohttp.ClientSession() as http:
        headers = {role: await token(http, name) for role, name in names.items()}
        yield http, headers, names


async def rows_of(db, actor: str) -> list:
    async with db.connect() as conn:
        result = await conn.execute(
            text("SELECT * FROM access_log WHERE actor = :a ORDER BY id"), {"a": actor}
        )
        return list(result)


def a_phone() -> str:
    return f"13{uuid.uuid4().int % 10**9:09d}"


async def test_reads_searches_exports_and_call_records_leave_who_what_where_why(staff, db):
    http, h, names = staff
    phone, district = a_phone(), f"日志测试{uuid.uuid4().hex[:6]}"
    body = {
        "nature": "complaint",
        "subject": "噪音扰民",
        "content": "楼下烧烤店营业到凌晨三点",
        "caller_name": "孙女士",
        "caller_phone": phone,
        "address": "滨江新城8栋",
        "district": district,
    }
    async with http.post(f"{HTTP}/api/v1/tickets", json=body, headers=h["agent"]) as resp:
        assert resp.status == 201, await resp.text()
        ticket = await resp.json()
    async with http.get(f"{HTTP}/api/v1/tickets/{ticket['id']}", headers=h["agent"]) as resp:
        assert resp.status == 200 and (await resp.json())["caller_phone"] == phone
    search = {"district": district, "caller": phone}
    async with http.get(f"{HTTP}/api/v1/tickets", params=search, headers=h["agent"]) as resp:
        assert resp.status == 200 and (await resp.json())["total"] == 1
    export = {"district": district}
    async with http.get(f"{HTTP}/api/v1/tickets/export", params=export, headers=h["agent"]) as r:
        assert r.status == NO_REASON and "reason" in (await r.json())["detail"]
    export["reason"] = "区县月报"
    async with http.get(f"{HTTP}/api/v1/tickets/export", params=export, headers=h["agent"]) as r:
        assert r.status == 200 and r.headers["X-Export-Rows"] == "1"
        lines = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert len(lines) == 2 and phone in lines[1]

    created, read, searched, exported = await rows_of(db, names["agent"])
    for row in (created, read, searched, exported):
        assert (row.role, row.client_addr, row.subject) == ("agent", "127.0.0.1", "ticket")
    assert (created.action, created.subject_id, created.detail["created"]) == (
        "read",
        ticket["id"],
        True,
    )
    assert (read.action, read.subject_id, read.detail["unmasked"]) == ("read", ticket["id"], 1)
    assert read.detail["route"] == "GET /api/v1/tickets/{ticket_id}"
    assert searched.action == "search" and searched.detail["filters"] == search
    assert searched.detail["ids"] == [ticket["id"]]
    assert (exported.action, exported.reason, exported.detail["rows"]) == ("export", "区县月报", 1)
    assert exported.detail["filters"] == {"district": district}

    # Call records for an auditor: a reason, or nothing; masked, and on record.
    async with db.connect() as conn:
        now = await conn.scalar(text("SELECT now()"))
    call_id = await insert_call(db, now, phone)
    async with http.get(f"{HTTP}/api/v1/calls", headers=h["auditor"]) as resp:
        assert resp.status == NO_REASON and "reason" in (await resp.json())["detail"]
    assert await rows_of(db, names["auditor"]) == []
    why = {"reason": "投诉质检", "limit": "500"}
    async with http.get(f"{HTTP}/api/v1/calls", params=why, headers=h["auditor"]) as resp:
        assert resp.status == 200
        calls = await resp.json()
    mine = next(c for c in calls if c["id"] == str(call_id))
    assert mine["caller"] != phone
    [listed] = await rows_of(db, names["auditor"])
    assert (listed.subject, listed.action, listed.reason, listed.client_addr) == (
        "call",
        "list",
        "投诉质检",
        "127.0.0.1",
    )
    assert str(call_id) in listed.detail["ids"] and listed.detail["unmasked"] == 0

    # Who saw this citizen's ticket: the auditor asks the log (and is logged asking).
    about = {"subject_id": ticket["id"], "reason": "信访核查"}
    async with http.get(f"{HTTP}/api/v1/access-log", params=about, headers=h["agent"]) as resp:
        assert resp.status == 403
    async with http.get(f"{HTTP}/api/v1/access-log", params=about, headers=h["auditor"]) as resp:
        assert resp.status == 200
        seen = await resp.json()
    assert [(e["actor"], e["action"]) for e in seen["entries"]] == [
        (names["agent"], "search"),
        (names["agent"], "read"),
        (names["agent"], "read"),
    ]
    [_, asked] = await rows_of(db, names["auditor"])
    assert (asked.subject, asked.action, asked.reason) == ("access_log", "search", "信访核查")
    dump = {"actor": names["agent"], "reason": "年度审计"}
    async with http.get(
        f"{HTTP}/api/v1/access-log/export", params=dump, headers=h["admin"]
    ) as resp:
        assert resp.status == 200 and resp.headers["X-Export-Rows"] == "4"
    [dumped] = await rows_of(db, names["admin"])
    assert (dumped.action, dumped.reason, dumped.detail["rows"]) == ("export", "年度审计", 4)


async def test_when_the_log_refuses_a_row_the_reader_gets_503_and_no_personal_data(staff, db):
    http, h, names = staff
    phone = a_phone()
    body = {
        "nature": "help",
        "subject": "独居老人求助",
        "content": "老人摔倒在家",
        "caller_name": "周大爷",
        "caller_phone": phone,
    }
    async with http.post(f"{HTTP}/api/v1/tickets", json=body, headers=h["agent"]) as resp:
        assert resp.status == 201
        tid = (await resp.json())["id"]
    # The database refuses this agent's next rows (a full disk, a lost grant, ...).
    refuse = f"refuse_{uuid.uuid4().hex[:8]}"
    async with db.begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'no room'; END; $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER {refuse} BEFORE INSERT ON access_log FOR EACH ROW "
                f"WHEN (NEW.actor = '{names['agent']}') EXECUTE FUNCTION {refuse}()"
            )
        )
    try:
        for path, params in (
            (f"/api/v1/tickets/{tid}", {}),
            ("/api/v1/tickets", {"caller": phone}),
            ("/api/v1/tickets/export", {"caller": phone, "reason": "月报"}),
        ):
            async with http.get(f"{HTTP}{path}", params=params, headers=h["agent"]) as resp:
                sent = await resp.text()
                assert resp.status == 503, (path, sent)
            assert phone not in sent and "周大爷" not in sent
    finally:
        async with db.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER {refuse} ON access_log"))
            await conn.execute(text(f"DROP FUNCTION {refuse}()"))
    async with http.get(f"{HTTP}/api/v1/tickets/{tid}", headers=h["agent"]) as resp:
        assert resp.status == 200 and (await resp.json())["caller_phone"] == phone
