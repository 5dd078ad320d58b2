"""Work orders through the HTTP API of the running service: tokens, roles,
masking, the workflow with its audit trail, and the citizen's public lookup."""

from __future__ import annotations

import asyncio
import os
import uuid

import aiohttp
import pytest
from sqlalchemy import text

from tests.integration.stack import HTTP, ROOT, closed_calls, sipp

PASSWORD = "correct horse battery"


async def add_user(database_url: str, name: str, role: str, department: str | None = None):
    args = [
        str(ROOT / ".venv" / "bin" / "callcenter"),
        "users",
        "add",
        name,
        "--role",
        role,
        "--password-stdin",
    ]
    if department:
        args += ["--department", department]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
    )
    out, _ = await proc.communicate(PASSWORD.encode() + b"\n")
    assert proc.returncode == 0, out.decode()


async def token(http: aiohttp.ClientSession, name: str) -> dict[str, str]:
    async with http.post(
        f"{HTTP}/api/v1/auth/token", json={"username": name, "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


@pytest.fixture
async def people(service, db, database_url):
    suffix = uuid.uuid4().hex[:6]
    water, roads = f"WATER{suffix}", f"ROADS{suffix}"
    async with db.begin() as conn:
        for code in (water, roads):
            await conn.execute(
                text("INSERT INTO departments (code, name) VALUES (:c, :c)"), {"c": code}
            )
    names = {
        "agent": f"agent{suffix}",
        "water": f"water{suffix}",
        "roads": f"roads{suffix}",
        "supervisor": f"lead{suffix}",
    }
    await add_user(database_url, names["agent"], "agent")
    await add_user(database_url, names["supervisor"], "supervisor")
    await add_user(database_url, names["water"], "department", water)
    await add_user(database_url, names["roads"], "department", roads)
    async with aiohttp.ClientSession() as http:
        headers = {role: await token(http, name) for role, name in names.items()}
        yield http, headers, water


async def test_a_ticket_from_a_call_goes_round_the_loop(people, db, caller_prefix):
    http, h, water = people
    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)

    body = {
        "nature": "complaint",
        "subject": "小区停水",
        "content": "阳光花园停水两天",
        "caller_name": "王女士",
        "caller_phone": "13812345678",
        "address": "阳光花园3栋",
        "call_id": str(call["id"]),
    }
    async with http.post(f"{HTTP}/api/v1/tickets", json=body, headers=h["agent"]) as resp:
        assert resp.status == 201, await resp.text()
        ticket = await resp.json()
    tid = ticket["id"]
    assert ticket["caller_phone"] == "13812345678" and "dispatch" in ticket["actions"]

    async def step(who: str, action: str, **extra) -> dict:
        async with http.post(
            f"{HTTP}/api/v1/tickets/{tid}/actions", headers=h[who], json={"action": action, **extra}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    await step("agent", "dispatch", department=water)
    seen = await step("water", "accept")
    assert seen["caller_phone"] == "138****5678" and seen["caller_name"] == "王**"
    await step("water", "reply", text="已恢复供水")
    await step("agent", "approve_reply")
    closed = await step("agent", "callback_satisfied", rating="满意")
    assert closed["status"] == "closed"

    async with http.get(f"{HTTP}/api/v1/tickets/{tid}/events", headers=h["supervisor"]) as r:
        trail = await r.json()
    assert [e["action"] for e in trail] == [
        "create",
        "dispatch",
        "accept",
        "reply",
        "approve_reply",
        "callback_satisfied",
    ]
    assert trail[0]["detail"]["call_id"] == str(call["id"])
    async with http.get(
        f"{HTTP}/api/v1/public/tickets/{ticket['query_code']}", params={"phone": "13812345678"}
    ) as resp:
        found = await resp.json()
    assert set(found) == {"query_code", "status", "updated_at"}  # nothing personal
    assert (found["query_code"], found["status"]) == (ticket["query_code"], "closed")


async def test_refusals_are_problems_that_name_the_reason(people):
    http, h, _ = people
    body = {"nature": "consultation", "subject": "医保", "content": "新生儿医保怎么办"}
    async with http.post(f"{HTTP}/api/v1/tickets", json=body) as resp:
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
    async with http.post(f"{HTTP}/api/v1/tickets", json=body, headers=h["water"]) as resp:
        assert resp.status == 403
    async with http.post(
        f"{HTTP}/api/v1/tickets", json={**body, "nature": "gossip"}, headers=h["agent"]
    ) as resp:
        assert resp.status == 400 and "nature" in (await resp.json())["detail"]
    async with http.post(f"{HTTP}/api/v1/tickets", json=body, headers=h["agent"]) as resp:
        tid = (await resp.json())["id"]
    async with http.post(
        f"{HTTP}/api/v1/tickets/{tid}/actions",
        headers=h["agent"],
        json={"action": "reply", "text": "x"},
    ) as resp:
        assert resp.status == 403  # agents do not reply for departments
    async with http.post(
        f"{HTTP}/api/v1/tickets/{tid}/actions", headers=h["agent"], json={"action": "approve_reply"}
    ) as resp:
        assert resp.status == 409
        assert "possible now: answer, dispatch" in (await resp.json())["detail"]
    async with http.get(f"{HTTP}/api/v1/tickets/{tid}", headers=h["roads"]) as resp:
        assert resp.status == 404  # not dispatched to that department
    async with http.post(
        f"{HTTP}/api/v1/auth/token", json={"username": "nobody", "password": "x"}
    ) as resp:
        assert resp.status == 401
