"""Masked means masked, against the running service: a masked phone shows four
digits at most wherever a masked role reads it, and the citizens' lookup cannot
be used to guess the rest (wrong phones lock the query code for a while)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import text

from tests.db.desk import insert_call
from tests.integration.stack import HTTP, LOOKUP_LIMITS, add_user, token


def masked_at_most_four(shown: str, phone: str) -> bool:
    """What a masked reader sees of ``phone``: four of its digits at most, the last ones."""
    digits = "".join(c for c in shown if c.isdigit())
    return len(shown) == len(phone) and len(digits) <= 4 and phone.endswith(digits)


def a_phone() -> str:
    return f"13{uuid.uuid4().int % 10**9:09d}"


@pytest.fixture
async def desk(service, db, database_url):
    """An agent, a department that tickets are dispatched to, and an auditor."""
    suffix = uuid.uuid4().hex[:6]
    department = f"MASK{suffix}"
    async with db.begin() as conn:
        await conn.execute(
            text("INSERT INTO departments (code, name) VALUES (:c, :c)"), {"c": department}
        )
    names = {"agent": f"agent{suffix}", "department": f"dept{suffix}", "auditor": f"aud{suffix}"}
    await add_user(database_url, names["agent"], "agent")
    await add_user(database_url, names["department"], "department", department)
    await add_user(database_url, names["auditor"], "auditor")
    async with aiohttp.ClientSession() as http:
        headers = {role: await token(http, name) for role, name in names.items()}
        yield http, headers, department


async def new_ticket(http, headers, phone: str, **fields) -> dict:
    body = {
        "nature": "complaint",
        "subject": "楼道灯坏了",
        "content": "和平里小区二号楼楼道灯坏了一个月",
        "caller_name": "赵先生",
        "caller_phone": phone,
        "address": "和平里小区2号楼",
        "district": f"遮蔽测试{uuid.uuid4().hex[:6]}",
        **fields,
    }
    async with http.post(f"{HTTP}/api/v1/tickets", json=body, headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def lookup(http, code: str, phone: str) -> aiohttp.ClientResponse:
    async with http.get(f"{HTTP}/api/v1/public/tickets/{code}", params={"phone": phone}) as resp:
        await resp.read()
        return resp


async def test_a_brute_force_of_the_public_lookup_locks_the_code_even_for_the_right_phone(desk):
    http, h, _ = desk
    phone = a_phone()
    ticket = await new_ticket(http, h["agent"], phone)
    code = ticket["query_code"]
    assert (await lookup(http, code, phone)).status == 200  # the citizen, once

    # A reader of the masked ticket knows the last four digits and tries the rest.
    statuses = []
    for guess in range(10_000):
        wrong = f"{phone[:2]}{guess:05d}{phone[-4:]}"
        if wrong == phone:
            continue
        resp = await lookup(http, code, wrong)
        statuses.append(resp.status)
        if resp.status == 429:
            break
    failures = LOOKUP_LIMITS["code_failures"]
    assert statuses == [404] * failures + [429]  # locked at once, not after 10⁴ tries
    assert resp.content_type == "application/problem+json"
    assert 1 <= int(resp.headers["Retry-After"]) <= LOOKUP_LIMITS["lock_seconds"]

    locked = await lookup(http, code, phone)  # the right phone is refused too
    assert locked.status == 429 and int(locked.headers["Retry-After"]) >= 1
    started = time.monotonic()
    while (answer := await lookup(http, code, phone)).status == 429:
        assert time.monotonic() - started < LOOKUP_LIMITS["lock_seconds"] + 5, "still locked"
        await asyncio.sleep(0.2)
    assert answer.status == 200  # the lock passed, and the owner is answered again
    # Other codes were never locked by it.
    other_phone = a_phone()
    other = await new_ticket(http, h["agent"], other_phone)
    assert (await lookup(http, other["query_code"], other_phone)).status == 200


async def test_masked_readers_see_four_digits_of_a_phone_at_most(desk, db):
    http, h, department = desk
    first, phone = a_phone(), a_phone()
    ticket = await new_ticket(http, h["agent"], first)
    tid, district = ticket["id"], ticket["district"]
    assert ticket["caller_phone"] == first  # the agent talks to the citizen
    async with http.patch(  # and corrects the number: the trail keeps both
        f"{HTTP}/api/v1/tickets/{tid}",
        json={"expected_version": ticket["version"], "caller_phone": phone},
        headers=h["agent"],
    ) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(
        f"{HTTP}/api/v1/tickets/{tid}/actions",
        json={"action": "dispatch", "department": department},
        headers=h["agent"],
    ) as resp:
        assert resp.status == 200, await resp.text()

    async def read(path: str, who: str, **params):
        params = {"reason": "核查遮蔽", **params}
        async with http.get(f"{HTTP}{path}", params=params, headers=h[who]) as resp:
            assert resp.status == 200, f"{path} as {who}: {await resp.text()}"
            return await resp.json()

    shown = []
    for who in ("department", "auditor"):
        shown.append((await read(f"/api/v1/tickets/{tid}", who))["caller_phone"])
        found = await read("/api/v1/tickets", who, district=district)
        shown += [t["caller_phone"] for t in found["tickets"]]
        trail = await read(f"/api/v1/tickets/{tid}/events", who)
        [edit] = [e for e in trail if e["action"] == "edit"]
        assert masked_at_most_four(edit["before"]["caller_phone"], first)
        shown.append(edit["after"]["caller_phone"])
        async with http.get(
            f"{HTTP}/api/v1/tickets/export",
            params={"district": district, "format": "csv", "reason": "核查遮蔽"},
            headers=h[who],
        ) as resp:
            assert resp.status == 200, await resp.text()
            rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        shown += [row["电话"] for row in rows]
    assert len(shown) == 8
    assert all(masked_at_most_four(s, phone) for s in shown), shown
    assert shown[0] == "*******" + phone[-4:]

    # A confidential ticket: the agent too sees it masked, here and among duplicates.
    secret = await new_ticket(http, h["agent"], phone, confidential=True)
    assert masked_at_most_four(secret["caller_phone"], phone)
    async with http.post(
        f"{HTTP}/api/v1/tickets/duplicates",
        json={"caller_phone": phone, "content": "和平里小区二号楼楼道灯坏了", "exclude": tid},
        headers=h["agent"],
    ) as resp:
        candidates = await resp.json()
    [mine] = [c for c in candidates if c["ticket"]["id"] == secret["id"]]
    assert masked_at_most_four(mine["ticket"]["caller_phone"], phone)
    assert mine["same_phone"] is None and mine["same_place"] is None

    # Call records for an auditor.
    await insert_call(db, datetime.now(UTC), caller=phone)
    calls = await read("/api/v1/calls", "auditor", limit="500")
    numbers = [c["caller"] for c in calls if c["caller"].endswith(phone[-4:])]
    assert numbers and all(masked_at_most_four(n, phone) for n in numbers), numbers
