"""kill -9 of the service with callers talking, waiting and in the IVR: the
restarted service takes every call over where it was, cuts nothing, plays
nothing into a conversation, and writes every row once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from callcenter.calls.journal import JOURNAL_VAR, Journal
from tests.integration.stack import (
    HTTP,
    ROOT,
    asterisk,
    caller_scenario,
    closed_calls,
    open_call_id,
    sipp,
    timeline,
)
from tests.integration.test_acd import Desk, rows, talking


@pytest.fixture
async def desk(service) -> AsyncIterator[Desk]:
    """The ACD tests' desk (queue flow, five agents logged out)."""
    await service.use_flows("queue")
    async with aiohttp.ClientSession(headers=await service.admin()) as http:
        centre = Desk(service, http)
        await centre.configure()
        yield centre
        await centre.close()


async def journal_of(db, ari, call_id: str) -> Journal | None:
    [call] = await rows(db, "SELECT channel_id FROM calls WHERE id = :c", c=call_id)
    return Journal.decode(await ari.get_variable(call["channel_id"], JOURNAL_VAR))


async def until_stage(db, ari, call_id: str, stage: str, timeout: float = 20.0) -> Journal:
    """Wait until the call's channel says it is at ``stage`` (what a kill leaves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        journal = await journal_of(db, ari, call_id)
        if journal is not None and journal.stage == stage:
            return journal
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {call_id} never reached stage {stage}")


def after_adoption(kinds_details: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    kinds = [k for k, _ in kinds_details]
    assert "adopted" in kinds, kinds
    return kinds_details[kinds.index("adopted") :]


async def test_a_conversation_goes_on_through_a_kill_and_is_recorded_once(
    desk, db, ari, caller_prefix, tmp_path
):
    await desk.phone("t1", "agent_answers.xml")  # talks until the caller hangs up
    await desk.state("t1", "available")
    scenario = caller_scenario(tmp_path, [("talk", 20000)], hang_up=True)
    # The caller hangs up by itself 20 s after the answer.
    caller = asyncio.create_task(sipp(str(scenario), caller_prefix, timeout_s=90))
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)
    before = await until_stage(db, ari, call_id, "talk")
    assert before.agent == "t1" and before.recording

    desk.service.kill()  # no chance to clean up
    await desk.service.start()

    result = await caller
    assert result.returncode == 0, result.output  # never cut, never sent a BYE
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "answered"
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["outcome"], stay["agent_id"]) == ("answered", "t1")
    assert stay["answered_at"] == before.answered_at  # the answer time of the first process
    assert stay["talk_seconds"] > 15  # the whole conversation, across the restart
    [recording] = await rows(db, "SELECT * FROM recordings WHERE call_id = :c", c=call["id"])
    assert recording["id"] == stay["recording_id"] and recording["name"] == before.recording
    data = (ROOT / "recordings" / f"{recording['name']}.wav").read_bytes()
    assert hashlib.sha256(data).hexdigest() == recording["sha256"]

    steps = await timeline(db, call["id"])
    kinds = [k for k, _ in steps]
    assert kinds.count("StasisStart") == 1 and kinds.count("agent_answered") == 1
    taken_over = after_adoption(steps)
    assert "conversation_resumed" in [k for k, _ in taken_over]
    assert [k for k, _ in taken_over if k.startswith("Playback")] == []  # nothing played
    t1 = await desk.agent("t1")
    assert t1["state"] in ("wrap_up", "available"), t1  # not logged out
    # (no_leaks: no bridge and no leg left in Asterisk)


async def test_a_blind_transferred_conversation_goes_on_through_a_kill(
    department, desk, db, ari, caller_prefix, tmp_path
):
    """The caller talks with the department t1 transferred them to; a kill -9
    cuts neither, and the end writes the stay (t1, the department) once."""
    await desk.phone("t1", "agent_answers.xml")  # talks until hung up
    await desk.state("t1", "available")
    scenario = caller_scenario(tmp_path, [("talk", 25000)], hang_up=True)
    caller = asyncio.create_task(sipp(str(scenario), caller_prefix, timeout_s=90))
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)
    async with desk.http.post(
        f"{HTTP}/api/v1/calls/{call_id}/transfer", json={"to": "88001234", "mode": "blind"}
    ) as resp:
        assert resp.status == 200, await resp.text()
    before = await until_stage(db, ari, call_id, "talk")
    assert before.parties is not None and [p.number for p in before.parties] == ["88001234"]
    [leg] = [p.leg for p in before.parties]
    assert leg.startswith("transfer-")

    desk.service.kill()  # no chance to clean up
    await desk.service.start()
    assert leg in {c.id for c in await ari.list_channels()}  # not hung up as an orphan

    result = await caller
    assert result.returncode == 0, result.output  # never cut: the caller hung up itself
    assert await asyncio.wait_for(department.wait(), 30) == 0  # then our BYE reached it
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "answered"
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call["id"])
    assert (stay["outcome"], stay["agent_id"], stay["transferred_to"]) == (
        "answered",
        "t1",
        "88001234",
    )
    assert stay["answered_at"] == before.answered_at
    assert stay["talk_seconds"] > 15  # the whole conversation, across the restart
    [recording] = await rows(db, "SELECT * FROM recordings WHERE call_id = :c", c=call["id"])
    assert recording["id"] == stay["recording_id"] and recording["name"] == before.recording
    taken_over = after_adoption(await timeline(db, call["id"]))
    assert "conversation_resumed" in [k for k, _ in taken_over]
    assert [k for k, _ in taken_over if k.startswith("Playback")] == []  # nothing played
    assert (await desk.agent("t1"))["state"] in ("wrap_up", "available")
    # (no_leaks: no bridge and no leg left in Asterisk)


async def test_waiting_callers_keep_their_order_through_a_kill(desk, db, ari, caller_prefix):
    await desk.phone("t1", "agent_answers_hangs_up.xml", talk_ms=1000)
    await desk.state("t1", "paused", "training")  # staffed, nobody free: both wait
    first = asyncio.create_task(sipp("caller_until_bye.xml", caller_prefix + "1", timeout_s=90))
    first_id = await open_call_id(db, caller_prefix + "1", first)
    before_first = await until_stage(db, ari, first_id, "queue")
    second = asyncio.create_task(sipp("caller_until_bye.xml", caller_prefix + "2", timeout_s=90))
    second_id = await open_call_id(db, caller_prefix + "2", second)
    await until_stage(db, ari, second_id, "queue")

    desk.service.kill()
    await desk.service.start()
    t1 = await desk.agent("t1")
    assert (t1["state"], t1["reason"]) == ("paused", "training")  # kept across the restart
    await desk.state("t1", "available")

    for caller in (first, second):
        result = await caller
        assert result.returncode == 0, result.output
    calls = await closed_calls(db, caller_prefix, 2)
    assert {c["disposition"] for c in calls} == {"answered"}
    stays = {
        str(s["call_id"]): s
        for s in await rows(
            db,
            "SELECT * FROM queue_calls WHERE call_id IN (:a, :b)",
            a=first_id,
            b=second_id,
        )
    }
    assert len(stays) == 2  # one row per stay, not two
    assert stays[first_id]["answered_at"] < stays[second_id]["answered_at"]  # in order
    assert stays[first_id]["entered_at"] == before_first.enqueued_at  # the same place
    for call_id in (first_id, second_id):
        steps = after_adoption(await timeline(db, call_id))
        assert "queue_resumed" in [k for k, _ in steps]
    requests = await rows(
        db, "SELECT call_id FROM queue_requests WHERE call_id IN (:a, :b)", a=first_id, b=second_id
    )
    assert len(requests) == 2  # not requested again by the restarted service


async def test_an_ivr_caller_resumes_after_the_welcome(hotline, db, ari, caller_prefix):
    caller = asyncio.create_task(
        sipp("caller_hangs_up.xml", caller_prefix, hangup_after_ms=15000, timeout_s=60)
    )
    call_id = await open_call_id(db, caller_prefix, caller)
    for _ in range(100):  # the welcome is playing
        if "PlaybackStarted" in [k for k, _ in await timeline(db, call_id)]:
            break
        await asyncio.sleep(0.1)
    hotline.kill()
    await hotline.start()

    result = await caller
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    steps = after_adoption(await timeline(db, call["id"]))
    resumed = [d for k, d in steps if k == "resumed"]
    assert resumed and resumed[0]["node"] == "hours"
    media = [d["media"] for k, d in steps if k == "PlaybackStarted"]
    assert media and not any("welcome" in m for m in media), media
    assert any("main_menu" in m for m in media), media


async def test_asterisk_restarting_mid_conversation_closes_the_call_and_frees_the_agent(
    desk, db, caller_prefix
):
    await desk.phone("t1", "agent_answers.xml")
    await desk.state("t1", "available")
    before = await desk.service.wait_healthy()
    caller = asyncio.create_task(
        sipp("caller_until_bye.xml", caller_prefix, timeout_s=60)  # Asterisk's stop ends it
    )
    call_id = await open_call_id(db, caller_prefix, caller)
    await talking(desk.http, call_id)

    await asyncio.to_thread(asterisk, "restart")
    after = await desk.service.wait_healthy()
    assert after["ari"]["connections"] > before["ari"]["connections"]
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "lost"  # a failure, not a normal end
    [stay] = await rows(db, "SELECT * FROM queue_calls WHERE call_id = :c", c=call_id)
    assert (stay["outcome"], stay["agent_id"]) == ("answered", "t1")
    t1 = await desk.agent("t1")
    assert t1["state"] in ("wrap_up", "available"), t1  # not stuck on a call that is gone
    caller.cancel()


async def test_make_up_starts_a_killed_service_again_and_make_down_stops_it(
    service_process, asterisk_running, database_url, tmp_path
):
    """`make up`'s supervisor: kill -9 of the service and it is serving again
    within seconds (a new process); `make down` stops it for good."""
    await service_process.stop()  # the tests' own service holds the port meanwhile
    env = {**os.environ, "DATABASE_URL": database_url}
    stack = [str(ROOT / "scripts" / "stack.sh")]
    pidfile = ROOT / "run" / "callcenter.pid"
    out = tmp_path / "stack.log"  # a file, not a pipe: the daemons must not hold it open

    def run(command: str) -> int:
        with out.open("ab") as log:
            return subprocess.run([*stack, command], env=env, stdout=log, stderr=log).returncode

    up = await asyncio.to_thread(run, "up")
    try:
        assert up == 0, out.read_text()
        first = int(pidfile.read_text())
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # a new process, and healthy
            pid = pidfile.read_text().strip() if pidfile.exists() else ""
            if pid and int(pid) != first and await healthy():
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the supervisor did not start the service again")
        second = int(pidfile.read_text())
    finally:
        down = await asyncio.to_thread(run, "down")
    assert down == 0, out.read_text()
    assert not pidfile.exists() and not await healthy()
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # stopped, and not started again
    asterisk("start")  # `down` stopped Asterisk too: back for the next tests


async def healthy() -> bool:
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{HTTP}/healthz") as resp:
                return resp.status == 200
    except aiohttp.ClientError:
        return False
