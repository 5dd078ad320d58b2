"""IVR → queue → agent against the fake Asterisk, branch by branch: the caller
presses 1, waits in a holding bridge, agent 1001's seat is dialled, answers, the
two talk in a recorded bridge. The caller hangs up after every request that path
makes, and Asterisk refuses each one (404/409/500): the call record is closed
exactly once, the agent is free again, and nothing of ours is left in Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from callcenter.acd.agents import AgentState
from callcenter.acd.roster import AgentConfig
from callcenter.calls import ari_port, legs, queue_call, session
from callcenter.db.models import Disposition, QueueCall, Recording
from callcenter.ivr.registry import IvrRegistry
from tests.unit.call_harness import IVR_FLOW, Centre, ivr_registry, kinds

D = Disposition
AGENT = AgentConfig(name="Agent 1001", seat="seat-1001", skills={"general": 5}, languages=["zh"])
QUEUE_FLOW = IVR_FLOW.replace('choices: {"1": goodbye,', 'choices: {"1": queue,').replace(
    "  goodbye:\n", "  queue:\n    type: queue\n    queue: general\n    next: goodbye\n  goodbye:\n"
)
# From the caller's key to talking with the agent (then the caller hangs up).
TO_THE_AGENT = [
    "answer",
    "play",
    "play",
    "stop_playback",
    "play",  # the queue's welcome
    "create_bridge",  # holding bridge
    "add_channel",
    "start_bridge_moh",
    "set_variable",  # journal: waiting
    "create_channel",  # the agent's leg
    "dial",
    "create_bridge",  # talk bridge
    "remove_channel",
    "add_channel",
    "add_channel",
    "record_bridge",
    "set_variable",  # journal: talking
]
MAX_STEPS = 30


@pytest.fixture(scope="module")
def ivr(tmp_path_factory: pytest.TempPathFactory) -> IvrRegistry:
    return ivr_registry(tmp_path_factory.mktemp("ivr") / "flows", QUEUE_FLOW)


@pytest.fixture(autouse=True)
def short_timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    monkeypatch.setattr(legs, "LEG_END_SECONDS", 0.0)
    monkeypatch.setattr(legs, "STASIS_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(queue_call, "RECORDING_END_SECONDS", 0.0)
    yield


def centre(ivr: IvrRegistry) -> Centre:
    c = Centre(ivr, agents={"1001": AGENT})
    c.acd.seat_registered("seat-1001", True)
    c.acd.request_state("1001", AgentState.AVAILABLE)
    return c


async def talking(c: Centre) -> None:
    """Until the conversation is being recorded (caller and agent bridged)."""
    async with asyncio.timeout(5):
        while "record_bridge" not in kinds(c.ari.requests):
            await c.ari.asked()


async def settled(c: Centre) -> None:
    """The call is over: its record closed, and the agent's zero-second wrap-up run."""
    await c.finished()
    for _ in range(5):
        await asyncio.sleep(0)


def closed_once(c: Centre) -> Disposition:
    assert len(c.records.opened()) == 1
    [disposition] = c.records.dispositions()
    assert c.ours_left() == (set(), set())
    assert c.router.keys() == []  # the caller's, the leg's and the bridges' inboxes closed
    agent = c.acd.agents["1001"]  # free for the next caller (paused if its seat failed)
    assert agent.state in (AgentState.AVAILABLE, AgentState.PAUSED) and agent.call_id is None
    return disposition


def rows(c: Centre, table: object) -> list[dict[str, object]]:
    return [values for t, values in c.records.rows if t is table]


async def test_the_caller_talks_to_the_agent_and_hangs_up(ivr: IvrRegistry) -> None:
    c = centre(ivr)
    c.ari.arrive("caller-1")
    await talking(c)
    assert kinds(c.ari.requests) == TO_THE_AGENT
    c.ari.hang_up("caller-1")
    await settled(c)
    assert closed_once(c) is D.ANSWERED
    [stay] = rows(c, QueueCall)
    assert stay["agent_id"] == "1001" and stay["answered_at"] is not None
    [recording] = rows(c, Recording)
    assert recording["kind"] == "conversation" and recording["agent_id"] == "1001"


async def test_the_agent_hangs_up_first_and_the_call_ends(ivr: IvrRegistry) -> None:
    """An answered call ends with the conversation: the caller is hung up by us."""
    c = centre(ivr)
    c.ari.arrive("caller-1")
    await talking(c)
    [leg] = [ch for ch in c.ari.channels if ch.startswith("agent-")]
    c.ari.hang_up(leg)
    await settled(c)
    assert closed_once(c) is D.ANSWERED
    assert kinds(c.ari.requests)[-1] == "hangup" and c.ari.requests[-1][1] == "caller-1"
    [stay] = rows(c, QueueCall)
    assert stay["agent_id"] == "1001"


@pytest.mark.parametrize("n", range(1, len(TO_THE_AGENT) + 1))
async def test_the_caller_hangs_up_after_any_request_on_the_way_to_the_agent(
    ivr: IvrRegistry, n: int
) -> None:
    c = centre(ivr)
    c.ari.hang_up_after(n, "caller-1")
    c.ari.arrive("caller-1")
    await settled(c)
    disposition = closed_once(c)
    done = kinds(c.ari.requests[:n])
    if "dial" not in done:
        assert disposition is D.ABANDONED  # gone before any agent answered
    elif done.count("add_channel") == 3:
        assert disposition is D.ANSWERED  # caller and agent were in the talk bridge


@pytest.mark.parametrize("status", [404, 409, 500])
@pytest.mark.parametrize("n", range(1, len(TO_THE_AGENT) + 1))
async def test_asterisk_refuses_any_request_on_the_way_to_the_agent(
    ivr: IvrRegistry, n: int, status: int
) -> None:
    """Request n is refused, and the caller (if still there) hangs up right after."""
    c = centre(ivr)
    c.ari.fail(None, status, nth=n)
    c.ari.hang_up_after(n, "caller-1")
    c.ari.arrive("caller-1")
    await settled(c)
    closed_once(c)


async def test_a_holding_bridge_asterisk_refuses_ends_the_call_as_lost(ivr: IvrRegistry) -> None:
    """Not the caller's doing (lost, not abandoned); hung up, the agent never rung."""
    c = centre(ivr)
    c.ari.fail("create_bridge", 500, nth=1)
    c.ari.arrive("caller-1")
    await settled(c)
    assert closed_once(c) is D.LOST
    assert "create_channel" not in kinds(c.ari.requests)
    assert c.ari.requests[-1] == ("hangup", "caller-1")


async def test_a_conversation_that_vanished_while_disconnected_is_lost_not_answered(
    ivr: IvrRegistry,
) -> None:
    """Asterisk restarted and its events socket closed before it told us of the
    hang-ups: the reconcile finds the caller gone. A failure, not a normal end."""
    c = centre(ivr)
    c.ari.arrive("caller-1")
    await talking(c)
    c.ari.channels.clear()  # everything went with Asterisk, unannounced
    c.ari.bridges.clear()
    await c.service.reconcile()
    await settled(c)
    assert closed_once(c) is D.LOST
    [stay] = rows(c, QueueCall)
    assert stay["agent_id"] == "1001"  # the conversation itself is kept


async def test_a_conversation_asterisk_cut_at_the_agents_end_is_lost_not_answered(
    ivr: IvrRegistry,
) -> None:
    """Asterisk shutting down hangs up the agent's leg (a soft hangup request, not
    the phone's BYE) and its socket closes before the caller's own hang-up is told."""
    c = centre(ivr)
    c.ari.arrive("caller-1")
    await talking(c)
    [leg] = [ch for ch in c.ari.channels if ch.startswith("agent-")]
    c.ari.emit("ChannelHangupRequest", leg, soft=True)
    c.ari.hang_up(leg)
    await settled(c)
    assert closed_once(c) is D.LOST
    [stay] = rows(c, QueueCall)
    assert stay["agent_id"] == "1001"
