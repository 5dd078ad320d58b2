"""Queues and agents on the real stack: SIPp softphones register with digest
auth and answer (or don't); SIPp callers wait, talk, give up or overflow."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import shutil
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
import yaml
from sqlalchemy import text

from tests.integration.stack import (
    HTTP,
    ROOT,
    SippAgent,
    add_user,
    caller_scenario,
    closed_calls,
    open_call_id,
    sipp,
    timeline,
    token,
    voicemail_ticket,
)
from tests.integration.test_ivr import loudness

AGENTS = ["t1", "t2", "t3", "t4", "t5"]


def queue_config(**general) -> dict:
    base = {
        "title": "测试",
        "strategy": "longest-idle",
        "ring_timeout_seconds": 5,
        "wrapup_seconds": 1,
        "max_wait_seconds": 20,
        "announce_every_seconds": 0,
        "entry_prompts": [],
        "overflow": {"action": "voicemail"},
    }
    # english and enterprise too: the 12345 flow names them.
    return {"queues": {"general": {**base, **general}, "english": base, "enterprise": base}}


class Desk:
    """The ACD as the tests drive it: roster, queues, softphones, agent states."""

    def __init__(self, service, http: aiohttp.ClientSession) -> None:
        self.service = service
        self.http = http
        self.phones: list[SippAgent] = []

    async def configure(self, skills: dict[str, dict] | None = None, **general) -> None:
        skills = skills or {}
        roster = {
            "agents": {
                a: {
                    "name": f"测试{a}",
                    "seat": f"seat-{a}",
                    "skills": skills.get(a, {"general": 5}),
                }
                for a in AGENTS
            }
        }
        self.service.roster.write_text(yaml.safe_dump(roster, allow_unicode=True))
        queues = queue_config(**general)
        self.service.queues.write_text(yaml.safe_dump(queues))
        await self.reload_ivr()  # queues come with the flows that name them
        async with self.http.get(f"{HTTP}/api/v1/queues") as resp:
            assert (await resp.json())["general"]["title"] == "测试"  # not the project's
        async with self.http.post(f"{HTTP}/api/v1/agents/reload") as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["pjsip_reloaded"] is True
        for agent in AGENTS:
            await self.state(agent, "logged_out")

    async def reload_ivr(self) -> None:
        status, body = await self.service.reload()
        assert status == 200, body

    def password(self, seat: str) -> str:
        secrets = yaml.safe_load((self.service.config_dir / "seats.yaml").read_text())
        return secrets[seat]

    async def phone(
        self, agent: str, behaviour: str = "agent_answers_hangs_up.xml", **kwargs
    ) -> SippAgent:
        phone = SippAgent(f"seat-{agent}", self.password(f"seat-{agent}"), behaviour, **kwargs)
        await phone.start()
        self.phones.append(phone)
        for _ in range(50):  # the registration reaches the ACD as a device state
            if (await self.agent(agent))["registered"]:
                return phone
            await asyncio.sleep(0.1)
        raise AssertionError(f"seat-{agent} never showed as registered")

    async def state(self, agent: str, state: str, reason: str | None = None) -> dict:
        body = {"state": state, **({"reason": reason} if reason else {})}
        async with self.http.post(f"{HTTP}/api/v1/agents/{agent}/state", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def agent(self, agent: str) -> dict:
        async with self.http.get(f"{HTTP}/api/v1/agents/{agent}") as resp:
            return await resp.json()

    async def close(self) -> None:
        for agent in AGENTS:
            await self.state(agent, "logged_out")
        for phone in self.phones:
            await phone.stop()
        # Leave the service with the project's own roster and queues for other tests.
        shutil.copy(ROOT / "agents" / "roster.yaml", self.service.roster)
        shutil.copy(ROOT / "config" / "queues.yaml", self.service.queues)
        await self.reload_ivr()
        async with self.http.post(f"{HTTP}/api/v1/agents/reload") as resp:
            assert resp.status == 200


@pytest.fixture
async def desk(service) -> AsyncIterator[Desk]:
    await service.use_flows("queue")
    async with aiohttp.ClientSession(headers=await service.admin()) as http:
        desk = Desk(service, http)
        await desk.configure()
        yield desk
        await desk.close()


async def cli(service, *args: str) -> str:
    """``callcenter ARGS`` with the running service's own configuration."""
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "callcenter"),
        *args[:2],
        "-c",
        str(service.config_file),
        *args[2:],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_agents_added_and_removed_on_the_cli_reach_the_service_and_asterisk(desk, ari):
    added = await cli(desk.service, "agents", "add", "t9", "--name", "新人", "--skill", "general=3")
    assert "the running service took the roster (6 agents); seats reloaded in Asterisk" in added
    assert (await desk.agent("t9"))["registered"] is False  # known, waiting for its softphone
    endpoint = await ari.request("GET", "/endpoints/PJSIP/seat-t9")
    assert endpoint["resource"] == "seat-t9"
    phone = await desk.phone("t9")  # the seat's new password works
    await phone.stop()
    desk.phones.remove(phone)
    removed = await cli(desk.service, "agents", "remove", "t9")
    assert "the running service took the roster (5 agents)" in removed
    async with desk.http.get(f"{HTTP}/api/v1/agents/t9") as resp:
        assert resp.status == 404
    # Asterisk keeps listing a removed endpoint, but its softphone is refused.
    with pytest.raises(AssertionError, match="REGISTER seat-t9 failed"):
        await SippAgent("seat-t9", phone.password).register(3600)


async def test_the_call_centre_routes_know_who_is_asking(
    desk, db, database_url, caller_prefix, tmp_path
):
    me, other = (f"a{uuid.uuid4().hex[:8]}" for _ in range(2))  # user name = agent id
    for agent in (me, other):
        await cli(desk.service, "agents", "add", agent, "--name", "新人", "--skill", "general=3")
        await add_user(database_url, agent, "agent")
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{HTTP}/api/v1/agents") as resp:
            assert resp.status == 401
        mine = await token(anonymous, me)
        own = {"state": "available"}
        async with anonymous.post(f"{HTTP}/api/v1/agents/{me}/state", json=own, headers=mine) as r:
            assert r.status == 200 and (await r.json())["state"] == "available"
        async with anonymous.post(f"{HTTP}/api/v1/agents/t1/state", json=own, headers=mine) as r:
            assert r.status == 403 and "only their own state" in (await r.json())["detail"]
        for method, path in (
            ("POST", "/api/v1/ivr/reload"),
            ("POST", "/api/v1/agents/reload"),
            ("POST", f"/api/v1/calls/{uuid.uuid4()}/supervise"),
        ):
            async with anonymous.request(method, f"{HTTP}{path}", headers=mine, json={}) as r:
                assert r.status == 403, path
        async with anonymous.get(f"{HTTP}/api/v1/queues", headers=mine) as resp:
            assert resp.status == 200  # the wallboard is for agents too

        # A caller reaches me: I may hold my call, the other agent may not.
        phone = await desk.phone(me, "agent_answers.xml")
        caller = asyncio.create_task(
            sipp(
                caller_scenario(tmp_path, [("pause", 4000), ("talk", 1000)], hang_up=True),
                caller_prefix,
            )
        )
        call_id = await open_call_id(db, caller_prefix, caller)
        hold = f"{HTTP}/api/v1/calls/{call_id}/hold"
        theirs = await token(anonymous, other)
        await talking(anonymous, call_id, mine)  # I may hold my own call
        async with anonymous.get(f"{HTTP}/api/v1/agents/{me}", headers=mine) as r:
            assert (await r.json())["call_id"] == call_id  # the desktop finds its call
        async with anonymous.post(hold, json={"on": True}, headers=theirs) as r:
            assert r.status == 403 and "only their own calls" in (await r.json())["detail"]
        assert (await caller).returncode == 0
    await phone.stop()
    desk.phones.remove(phone)  # its seat goes with the agent
    for agent in (me, other):
        await desk.state(agent, "logged_out")
        await cli(desk.service, "agents", "remove", agent)


async def rows(db, sql: str, **params) -> list[dict]:
    async with db.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def test_the_longest_idle_agent_gets_the_call_and_it_is_recorded(desk, db, caller_prefix):
    await desk.phone("t1", talk_ms=4000)
    await desk.phone("t2", talk_ms=4000)
    await desk.state("t1", "available")  # first: the longest idle
    await desk.state("t2", "available")

    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "answered"

    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["queue"], stay["outcome"], stay["agent_id"]) == ("general", "answered", "t1")
    assert stay["answered_at"] is not None and stay["talk_seconds"] > 2
    [recording] = await rows(db, "SELECT * FROM recordings WHERE id = :r", r=stay["recording_id"])
    assert (recording["kind"], recording["agent_id"]) == ("conversation", "t1")
    wav = ROOT / "recordings" / f"{recording['name']}.wav"
    data = wav.read_bytes()
    assert len(data) == recording["size_bytes"] > 44
    assert hashlib.sha256(data).hexdigest() == recording["sha256"]
    assert loudness(wav) > 200  # both sides were talking

    kinds = [k for k, _ in await timeline(db, call["id"])]
    assert kinds.index("agent_ringing") < kinds.index("agent_answered")
    states = [
        r["state"]
        for r in await rows(
            db,
            "SELECT state FROM agent_state_log WHERE agent_id = 't1' AND call_id = :c ORDER BY id",
            c=call["id"],
        )
    ]
    assert states == ["ringing", "on_call", "wrap_up"]
    assert (await desk.agent("t2"))["calls_answered"] == 0


async def test_an_agent_who_does_not_answer_is_paused_and_the_next_one_rings(
    desk, db, caller_prefix
):
    await desk.phone("t1", "agent_no_answer.xml")
    await desk.phone("t2", talk_ms=2000)
    await desk.state("t1", "available")  # first: the longest idle
    await desk.state("t2", "available")

    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    attempts = [
        (k, d.get("agent")) for k, d in await timeline(db, call["id"]) if k.startswith("agent_")
    ]
    assert attempts[:4] == [
        ("agent_ringing", "t1"),
        ("agent_no_answer", "t1"),
        ("agent_ringing", "t2"),
        ("agent_answered", "t2"),
    ]
    t1 = await desk.agent("t1")
    assert (t1["state"], t1["reason"]) == ("paused", "no answer")
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["agent_id"], stay["attempts"]) == ("t2", 2)


async def test_a_caller_who_hangs_up_while_waiting_is_abandoned_with_a_callback_task(
    desk, db, caller_prefix
):
    await desk.configure(announce_every_seconds=1)
    await desk.phone("t1")
    await desk.state("t1", "paused", "training")  # staffed, but nobody free

    result = await sipp("caller_hangs_up.xml", caller_prefix, hangup_after_ms=3500)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "abandoned"
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert stay["outcome"] == "abandoned" and stay["agent_id"] is None
    assert 2.5 < stay["wait_seconds"] < 6
    [task] = await rows(db, "SELECT * FROM callback_tasks WHERE call_id = :c", c=call["id"])
    assert (task["reason"], task["caller_number"], task["status"]) == (
        "abandoned",
        caller_prefix + "1",
        "open",
    )
    events = await timeline(db, call["id"])
    announced = [d for k, d in events if k == "queue_announcement"]
    assert announced and announced[0]["position"] == 1 and announced[0]["minutes"] >= 1


async def test_max_wait_overflows_to_voicemail_and_the_message_becomes_a_ticket(
    desk, db, caller_prefix, tmp_path
):
    await desk.configure(max_wait_seconds=5)
    await desk.phone("t1")
    await desk.state("t1", "paused", "break")

    # 5 s in the queue, the busy and message prompts, then speech into the message.
    steps = [("pause", 17000), ("talk", 4000)]
    result = await sipp(caller_scenario(tmp_path, steps, hang_up=False), caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1, timeout=40)
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert stay["outcome"] == "overflow" and stay["wait_seconds"] >= 5
    message = await voicemail_ticket(db, call["id"])
    assert message["size_bytes"] > 44
    assert (message["status"], message["channel"]) == ("ticket", "voicemail")
    assert message["ticket_status"] == "registered"


async def test_thirty_callers_five_agents_nobody_double_booked(desk, db, caller_prefix):
    await desk.configure(max_wait_seconds=15, wrapup_seconds=0)
    for agent in AGENTS:
        await desk.phone(agent, talk_ms=1500)
        await desk.state(agent, "available")

    result = await sipp("caller_until_bye.xml", caller_prefix, calls=30, rate=10, timeout_s=120)
    assert result.returncode == 0, result.output
    calls = await closed_calls(db, caller_prefix, 30, timeout=60)
    assert len(calls) == 30 and all(c["ended_at"] is not None for c in calls)
    stays = await rows(
        db,
        "SELECT q.* FROM queue_calls q JOIN calls c ON c.id = q.call_id "
        "WHERE c.caller_number LIKE :p",
        p=caller_prefix + "%",
    )
    by_call: dict = {}
    for stay in stays:
        by_call.setdefault(stay["call_id"], []).append(stay)
    assert len(by_call) == 30
    for call in calls:
        outcomes = [s["outcome"] for s in by_call[call["id"]]]
        assert outcomes in (["answered"], ["overflow"]), outcomes
        assert call["disposition"] == ("answered" if outcomes == ["answered"] else "completed")
    answered = [s for s in stays if s["outcome"] == "answered"]
    assert len(answered) >= 10
    for agent in AGENTS:  # one conversation at a time per agent
        talks = sorted((s["answered_at"], s["left_at"]) for s in answered if s["agent_id"] == agent)
        for (_, end), (start, _) in itertools.pairwise(talks):
            assert start >= end, f"agent {agent} double-booked"


async def talking(
    http: aiohttp.ClientSession, call_id: str, headers: dict[str, str] | None = None
) -> None:
    """Wait until the call is in a conversation with an agent (whose hold request,
    with ``headers``, is then accepted)."""
    for _ in range(100):
        async with http.post(
            f"{HTTP}/api/v1/calls/{call_id}/hold", json={"on": False}, headers=headers
        ) as resp:
            if resp.status == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the call never reached an agent")


@pytest.mark.parametrize("mode", ["blind", "conference"])
async def test_transfer_to_a_department(department, desk, db, caller_prefix, tmp_path, mode):
    await desk.phone("t1", "agent_answers.xml")  # the agent stays until hung up
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
        f"{HTTP}/api/v1/calls/{call_id}/transfer", json={"to": "88001234", "mode": mode}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["agents"] == ([] if mode == "blind" else ["t1"])
    result = await caller
    assert result.returncode == 0, result.output
    assert await asyncio.wait_for(department.wait(), 30) == 0  # reached, then our BYE

    [call] = await closed_calls(db, caller_prefix, 1)
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["agent_id"], stay["transferred_to"]) == ("t1", "88001234")
    kinds = [k for k, _ in await timeline(db, call["id"])]
    assert ("transferred" if mode == "blind" else "conference_added") in kinds
    assert (await desk.agent("t1"))["state"] in ("wrap_up", "available")


async def test_bad_call_control_requests_are_refused_clearly(desk, db):
    async with desk.http.post(
        f"{HTTP}/api/v1/calls/{'0' * 8}-0000-0000-0000-{'0' * 12}/transfer", json={"to": "88001234"}
    ) as resp:
        assert resp.status == 404
        assert resp.content_type == "application/problem+json"
    async with desk.http.post(f"{HTTP}/api/v1/calls/nonsense/hold", json={"on": True}) as r:
        assert r.status == 400
    async with desk.http.post(f"{HTTP}/api/v1/agents/t1/state", json={"state": "busy"}) as r:
        assert r.status == 400
        assert "state" in (await r.json())["detail"]
    async with desk.http.post(
        f"{HTTP}/api/v1/agents/nobody/state", json={"state": "available"}
    ) as r:
        assert r.status == 404


async def test_feature_codes_from_the_softphone_log_in_and_pause(desk, db):
    await desk.phone("t1")
    for code, state in (
        ("*21", "available"),
        ("*23", "paused"),
        ("*23", "available"),
        ("*22", "logged_out"),
    ):
        proc = await asyncio.create_subprocess_exec(
            "sipp",
            "127.0.0.1:5060",
            "-sf",
            str(ROOT / "tests" / "sipp" / "agent_dials.xml"),
            "-s",
            code,
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-m",
            "1",
            "-au",
            "seat-t1",
            "-ap",
            desk.password("seat-t1"),
            "-key",
            "seat",
            "seat-t1",
            "-nostdin",
            "-timeout",
            "20s",
            "-timeout_error",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, out.decode()[-1500:]
        assert (await desk.agent("t1"))["state"] == state, code
    logged = await rows(
        db,
        "SELECT state, reason FROM agent_state_log WHERE agent_id = 't1' ORDER BY id DESC LIMIT 4",
    )
    assert [r["state"] for r in reversed(logged)] == [
        "available",
        "paused",
        "available",
        "logged_out",
    ]


async def test_an_unregistered_softphone_is_out_of_rotation(desk, db, caller_prefix):
    phone = await desk.phone("t1")
    await desk.state("t1", "available")
    await phone.register(0)  # the softphone goes away
    for _ in range(50):
        if not (await desk.agent("t1"))["registered"]:
            break
        await asyncio.sleep(0.1)
    assert not (await desk.agent("t1"))["registered"]
    result = await sipp("caller_hangs_up.xml", caller_prefix, hangup_after_ms=3000)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    kinds = [k for k, _ in await timeline(db, call["id"])]
    assert "queue_unstaffed" in kinds and "agent_ringing" not in kinds


async def test_a_caller_may_ask_to_be_called_back_instead_of_waiting(
    desk, db, caller_prefix, tmp_path
):
    await desk.configure(max_wait_seconds=5, overflow={"action": "callback"})
    await desk.phone("t1")
    await desk.state("t1", "paused", "break")
    steps = [("pause", 12000), ("keys", "1")]
    result = await sipp(caller_scenario(tmp_path, steps, hang_up=False), caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "callback"
    [task] = await rows(db, "SELECT * FROM callback_tasks WHERE call_id = :c", c=call["id"])
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert task["reason"] == "requested" and task["queued_at"] == stay["entered_at"]
    assert stay["outcome"] == "callback"


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
async def test_hold_and_a_supervisor(desk, db, database_url, caller_prefix, tmp_path, mode):
    await desk.phone("t1", "agent_answers.xml")
    await desk.phone("t2", "agent_answers.xml")  # the supervisor's own seat (not in rotation)
    supervisor = f"sup{uuid.uuid4().hex[:8]}"
    await add_user(database_url, supervisor, "supervisor")
    async with desk.http.patch(f"{HTTP}/api/v1/users/{supervisor}", json={"seat": "t2"}) as r:
        assert r.status == 200 and (await r.json())["seat"] == "t2", await r.text()
    await desk.state("t1", "available")
    caller = asyncio.create_task(
        sipp(
            caller_scenario(tmp_path, [("pause", 6000), ("talk", 2000)], hang_up=True),
            caller_prefix,
        )
    )
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)

    async def hold(on: bool) -> dict[str, bool]:
        async with desk.http.post(f"{HTTP}/api/v1/calls/{call_id}/hold", json={"on": on}) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    # A double click: both answered, the call's own task holds the caller once.
    assert await asyncio.gather(hold(True), hold(True)) == [{"on_hold": True}] * 2
    assert await hold(False) == {"on_hold": False}
    supervise = f"{HTTP}/api/v1/calls/{call_id}/supervise"
    async with desk.http.post(supervise, json={"mode": mode}) as resp:  # an admin with no seat
        assert resp.status == 409 and "has no seat" in (await resp.json())["detail"]
    async with aiohttp.ClientSession(headers=await token(desk.http, supervisor)) as http:
        async with http.post(supervise, json={"mode": mode, "seat": "seat-t3"}) as resp:
            assert resp.status == 403, await resp.text()  # another seat: refused, rings nothing
            assert "only from their own seat seat-t2" in (await resp.json())["detail"]
        async with http.post(supervise, json={"mode": mode}) as resp:
            assert resp.status == 200, await resp.text()
    result = await caller
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    events = await timeline(db, call["id"])
    kinds = [k for k, _ in events]
    assert kinds.index("hold") < kinds.index("unhold")
    assert kinds.count("hold") == 1
    supervision = [e for k, e in events if k == "supervision"]
    assert supervision == [{"mode": mode, "seat": "seat-t2", "agent": "t1"}]


async def test_the_softphone_transfer_key_reaches_the_department(
    department, desk, db, caller_prefix, tmp_path
):
    await desk.phone("t1", "agent_transfers.xml", talk_ms=2000, keys={"transfer_to": "88001234"})
    await desk.state("t1", "available")
    result = await sipp(
        caller_scenario(tmp_path, [("pause", 8000), ("talk", 2000)], hang_up=True), caller_prefix
    )
    assert result.returncode == 0, result.output
    assert await asyncio.wait_for(department.wait(), 30) == 0
    [call] = await closed_calls(db, caller_prefix, 1)
    events = await timeline(db, call["id"])
    assert ("softphone_transfer", {"agent": "t1", "to": "88001234"}) in events
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert stay["transferred_to"] == "88001234"


async def test_a_caller_pressing_1_in_the_12345_menu_reaches_an_agent(
    desk, db, caller_prefix, tmp_path
):
    await desk.service.use_flows("default")
    await desk.phone("t3", talk_ms=2000)
    await desk.state("t3", "available")
    steps = [("pause", 1000), ("keys", "1"), ("talk", 1000)]
    result = await sipp(caller_scenario(tmp_path, steps, hang_up=False), caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    assert (call["flow"], call["disposition"]) == ("12345", "answered")
    events = await timeline(db, call["id"])
    assert ("menu_choice", {"node": "main_menu", "digit": "1", "attempt": 1}) in events
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["queue"], stay["agent_id"], stay["outcome"]) == ("general", "t3", "answered")


async def test_an_agent_transfers_the_caller_to_another_agent(desk, db, caller_prefix, tmp_path):
    await desk.phone("t1", "agent_answers.xml")
    await desk.phone("t2", "agent_answers.xml")
    await desk.state("t1", "available")
    caller = asyncio.create_task(
        sipp(
            caller_scenario(tmp_path, [("pause", 7000), ("talk", 1000)], hang_up=True),
            caller_prefix,
        )
    )
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)
    await desk.state("t2", "available")  # only now, so the queue gave the call to t1
    async with desk.http.post(
        f"{HTTP}/api/v1/calls/{call_id}/transfer", json={"to": "agent:t2", "mode": "blind"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["agents"] == ["t2"]
    assert (await desk.agent("t2"))["state"] == "on_call"
    result = await caller
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["agent_id"], stay["transferred_to"]) == ("t1", "agent:t2")
    assert (await desk.agent("t2"))["calls_answered"] == 1


async def test_max_wait_overflows_into_another_queue(desk, db, caller_prefix):
    await desk.configure(
        max_wait_seconds=5,
        overflow={"action": "queue", "queue": "english"},
        skills={"t1": {"general": 5}, "t2": {"english": 9}},
    )
    await desk.phone("t1")
    await desk.phone("t2", talk_ms=2000)
    await desk.state("t1", "paused", "break")  # general is staffed but nobody is free
    await desk.state("t2", "available")
    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    stays = await rows(
        db, "SELECT * FROM queue_calls WHERE call_id = :c ORDER BY entered_at", c=call["id"]
    )
    assert [(s["queue"], s["outcome"]) for s in stays] == [
        ("general", "overflow"),
        ("english", "answered"),
    ]
    assert stays[1]["agent_id"] == "t2"
    assert call["disposition"] == "answered"
