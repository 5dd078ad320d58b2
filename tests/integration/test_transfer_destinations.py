"""No toll fraud, on the real stack: a transfer reaches only the department
directory (config/directory.yaml) and the seats; anything else is refused with a
403, the call stays with the agent, and /metrics counts it."""

from __future__ import annotations

import asyncio
import re
import uuid

import aiohttp

from tests.integration.stack import (
    HTTP,
    add_user,
    caller_scenario,
    closed_calls,
    open_call_id,
    sipp,
    timeline,
    token,
)
from tests.integration.test_acd import desk, rows, talking  # noqa: F401  (desk: a fixture)

ABROAD = "0085212345678"


async def refused(http: aiohttp.ClientSession, path: str) -> float:
    async with http.get(f"{HTTP}/metrics") as resp:
        text = await resp.text()
    found = re.search(rf'^hotline_transfers_refused_total{{path="{path}"}} (\S+)$', text, re.M)
    assert found is not None, "hotline_transfers_refused_total missing from /metrics"
    return float(found.group(1))


async def test_a_transfer_outside_the_directory_is_refused_and_the_agent_keeps_the_call(
    desk,  # noqa: F811
    db,
    caller_prefix,
    tmp_path,
):
    await desk.phone("t1", "agent_answers.xml")  # the agent stays until hung up
    await desk.state("t1", "available")
    before = await refused(desk.http, "api")
    caller = asyncio.create_task(
        sipp(
            caller_scenario(tmp_path, [("pause", 5000), ("talk", 1000)], hang_up=True),
            caller_prefix,
        )
    )
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)
    for mode in ("blind", "conference"):
        async with desk.http.post(
            f"{HTTP}/api/v1/calls/{call_id}/transfer", json={"to": ABROAD, "mode": mode}
        ) as resp:
            assert resp.status == 403, await resp.text()
            assert resp.content_type == "application/problem+json"
            assert ABROAD in (await resp.json())["detail"]
    assert await refused(desk.http, "api") == before + 2
    assert (await desk.agent("t1"))["state"] == "on_call"
    await talking(desk.http, call_id)  # still in the conversation with t1

    result = await caller  # the caller talks on and hangs up themself
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["agent_id"], stay["transferred_to"]) == ("t1", None)
    kinds = [k for k, _ in await timeline(db, call["id"])]
    assert "transferred" not in kinds and "conference_added" not in kinds


async def test_a_transfer_to_a_directory_department_reaches_it(
    department,
    desk,  # noqa: F811
    db,
    caller_prefix,
    tmp_path,
):
    await desk.phone("t1", "agent_answers.xml")
    await desk.state("t1", "available")
    caller = asyncio.create_task(
        sipp(
            caller_scenario(tmp_path, [("pause", 6000), ("talk", 2000)], hang_up=True),
            caller_prefix,
        )
    )
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)
    async with desk.http.post(
        f"{HTTP}/api/v1/calls/{call_id}/transfer", json={"to": "dept:SWJ", "mode": "blind"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert (body["destination"], body["number"], body["agents"]) == ("dept:SWJ", "88001234", [])
    result = await caller
    assert result.returncode == 0, result.output
    assert await asyncio.wait_for(department.wait(), 30) == 0  # reached, then our BYE
    [call] = await closed_calls(db, caller_prefix, 1)
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert stay["transferred_to"] == "88001234"
    events = await timeline(db, call["id"])
    assert ("transferred", {"to": "88001234", "destination": "dept:SWJ"}) in events


async def test_agents_read_the_directory_departments_do_not(service, database_url):
    agent, department = f"a{uuid.uuid4().hex[:8]}", f"d{uuid.uuid4().hex[:8]}"
    await add_user(database_url, agent, "agent")
    await add_user(database_url, department, "department", "SWJ")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{HTTP}/api/v1/directory", headers=await token(http, agent)) as r:
            assert r.status == 200, await r.text()
            directory = await r.json()
        async with http.get(f"{HTTP}/api/v1/directory", headers=await token(http, department)) as r:
            assert r.status == 403
            assert r.content_type == "application/problem+json"
        async with http.get(f"{HTTP}/api/v1/directory") as r:
            assert r.status == 401
    swj = next(d for d in directory["departments"] if d["code"] == "SWJ")
    assert swj == {
        "code": "SWJ",
        "name": "市水务局",
        "number": "88001234",
        "to": "dept:SWJ",
        "duty": "88001299",
        "duty_to": "dept:SWJ/duty",
    }
    assert {"id": "1001", "name": "张敏", "to": "agent:1001"} in directory["agents"]
