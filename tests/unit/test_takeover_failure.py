"""A conversation taken over after a kill whose new task fails before it re-owns
the talk (the caller hangs up during the take-over's first request, or Asterisk
refuses it) is ended at once: the agent's leg hung up, the bridge deleted, the
stay and the recording written once, the agent through wrap-up to available,
instead of all of it waiting for the next reconcile."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.acd.agents import AgentState
from callcenter.ari.events import Channel
from callcenter.calls.journal import row_id
from callcenter.db.models import Disposition, QueueCall, Recording
from callcenter.ivr.registry import IvrRegistry
from tests.unit.call_harness import Centre, ivr_registry, until
from tests.unit.test_service_takeover import (  # noqa: F401 (short_timers: a fixture)
    AGENT,
    QUEUE_FLOW,
    RECORDING,
    T0,
    TALKING,
    left_behind,
    short_timers,
)


@pytest.fixture(scope="module")
def ivr(tmp_path_factory: pytest.TempPathFactory) -> IvrRegistry:
    return ivr_registry(tmp_path_factory.mktemp("ivr") / "flows", QUEUE_FLOW)


@pytest.mark.parametrize(
    ("status", "disposition"),
    [(404, Disposition.ANSWERED), (500, Disposition.LOST)],
    ids=["caller-hung-up", "asterisk-refused"],
)
async def test_a_takeover_failing_before_it_owns_the_talk_ends_it_at_once(
    ivr: IvrRegistry, status: int, disposition: Disposition
) -> None:
    centre = Centre(ivr, agents={"1001": AGENT}, presses=None)
    ari = centre.ari
    talking = left_behind(centre, "talker", TALKING)
    ari.channels["agent-1"] = "PJSIP/seat-1001"
    ari.up.add("agent-1")
    ari.bridges["hotline-call-1"] = ["talker", "agent-1"]
    ari.recordings[RECORDING] = "bridge:hotline-call-1"
    centre.acd.restore("1001", AgentState.ON_CALL, None, T0, str(talking))
    # The take-over's first request (is the caller still there?): 404, the caller
    # hung up just before (the fake hangs the channel up first), or a refusal.
    ari.fail("get_channel", status, nth=1)

    await centre.service.reconcile()
    await centre.finished()

    assert ("hangup", "agent-1") in ari.requests
    assert ("delete_bridge", "hotline-call-1") in ari.requests
    assert centre.ours_left() == (set(), set())
    assert centre.deps.queues.conversations == {}
    [closed] = centre.records.closes
    assert (closed.call_id, closed.disposition) == (talking, disposition)
    assert closed.last_stage == "12345/wait"  # where the talk was, not "start"
    [stay] = [v for t, v in centre.records.rows if t is QueueCall]
    assert (stay["id"], stay["agent_id"], stay["answered_at"], stay["outcome"]) == (
        row_id("stay", RECORDING),
        "1001",
        T0,
        "answered",
    )
    [recording] = [v for t, v in centre.records.rows if t is Recording]
    assert (recording["name"], recording["id"]) == (RECORDING, row_id("recording", RECORDING))
    # Released (through its wrap-up): an agent on a taken-over call is not
    # settled by the restart, only the end of that call frees them.
    await until(lambda: centre.acd.agents["1001"].state is AgentState.AVAILABLE)

    # Nothing is left for the next reconcile to do, nor to write a second time.
    rows = len(centre.records.rows)
    await centre.service.reconcile()
    await centre.finished()
    assert len(centre.records.rows) == rows and len(centre.records.closes) == 1


async def test_a_shutdown_during_the_takeovers_first_request_ends_the_talk_too(
    ivr: IvrRegistry,
) -> None:
    centre = Centre(ivr, agents={"1001": AGENT}, presses=None)
    ari = centre.ari
    talking = left_behind(centre, "talker", TALKING)
    ari.channels["agent-1"] = "PJSIP/seat-1001"
    ari.bridges["hotline-call-1"] = ["talker", "agent-1"]
    ari.recordings[RECORDING] = "bridge:hotline-call-1"
    centre.acd.restore("1001", AgentState.ON_CALL, None, T0, str(talking))
    asked, never = asyncio.Event(), asyncio.Event()
    answer = ari.get_channel

    async def unanswered(channel_id: str) -> Channel:
        if channel_id == "talker":  # the take-over's first request: Asterisk never answers
            asked.set()
            await never.wait()
        return await answer(channel_id)

    ari.get_channel = unanswered  # type: ignore[method-assign]
    await centre.service.reconcile()
    async with asyncio.timeout(5):
        await asked.wait()
    await centre.service.drain(0)  # SIGTERM, no grace left: the task is cancelled there

    assert centre.ours_left() == (set(), set())  # the caller hung up by the shutdown
    [closed] = centre.records.closes
    assert (closed.call_id, closed.disposition) == (talking, Disposition.SHUTDOWN)
    assert len([v for t, v in centre.records.rows if t is QueueCall]) == 1
    await until(lambda: centre.acd.agents["1001"].state is AgentState.AVAILABLE)
