"""A service started after a kill -9 takes over what the killed one left in the
(fake) Asterisk: the real CallService, sessions, interpreter and ACD, reading
each caller's journal from its channel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.acd.agents import AgentState
from callcenter.acd.roster import AgentConfig
from callcenter.calls import ari_port, legs, queue_call, session
from callcenter.calls.commands import Hold
from callcenter.calls.journal import JOURNAL_VAR, Journal, call_id_of, row_id
from callcenter.db.models import Disposition, QueueCall, QueueRequest, Recording
from callcenter.ivr.registry import IvrRegistry
from tests.unit.call_harness import IVR_FLOW, Centre, ivr_registry, until

AGENT = AgentConfig(name="Agent 1001", seat="seat-1001", skills={"general": 5}, languages=["zh"])
QUEUE_FLOW = IVR_FLOW.replace('choices: {"1": goodbye,', 'choices: {"1": wait,').replace(
    "  goodbye:\n", "  wait:\n    type: queue\n    queue: general\n    next: goodbye\n  goodbye:\n"
)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RECORDING = "calls/2026/12/01/talking-1"


@pytest.fixture(scope="module")
def ivr(tmp_path_factory: pytest.TempPathFactory) -> IvrRegistry:
    return ivr_registry(tmp_path_factory.mktemp("ivr") / "flows", QUEUE_FLOW)


@pytest.fixture(autouse=True)
def short_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    monkeypatch.setattr(legs, "LEG_END_SECONDS", 0.0)
    monkeypatch.setattr(queue_call, "RECORDING_END_SECONDS", 0.0)


def left_behind(centre: Centre, channel_id: str, journal: Journal | None) -> uuid.UUID:
    """A caller's channel as a killed process left it: in Stasis, answered, its
    journal on it; the call's id is the channel's."""
    call_id = call_id_of(channel_id)
    centre.ari.channels[channel_id] = "PJSIP/citizen-trunk"
    centre.ari.up.add(channel_id)
    if journal is not None:
        centre.ari.variables[(channel_id, JOURNAL_VAR)] = journal.encode()
    return call_id


def journalled(centre: Centre, channel_id: str) -> bool:
    """The restarted service wrote the caller's journal again (waiting anew)."""
    return ("set_variable", channel_id, JOURNAL_VAR) in centre.ari.requests


# A caller talking to agent 1001 (leg agent-1) in recorded bridge hotline-call-1.
TALKING = Journal(
    stage="talk",
    flow="12345",
    node="wait",
    queue="general",
    enqueued_at=T0,
    agent="1001",
    leg="agent-1",
    answered_at=T0,
    bridge="hotline-call-1",
    recording=RECORDING,
    attempts=1,
)


def waiting(minutes: int, hold: str) -> Journal:
    return Journal(
        stage="queue",
        flow="12345",
        node="wait",
        queue="general",
        enqueued_at=T0 + timedelta(minutes=minutes),
        hold_bridge=hold,
    )


async def test_after_a_kill_every_caller_is_taken_over_at_its_stage(ivr: IvrRegistry) -> None:
    centre = Centre(ivr, agents={"1001": AGENT}, presses=None)
    ari = centre.ari
    talking = left_behind(
        centre,
        "talker",
        TALKING,
    )
    ari.channels["agent-1"] = "PJSIP/seat-1001"
    ari.up.add("agent-1")
    ari.bridges["hotline-call-1"] = ["talker", "agent-1"]
    ari.recordings[RECORDING] = "bridge:hotline-call-1"  # still recording
    left_behind(centre, "later", waiting(5, "hotline-hold-later"))
    left_behind(centre, "earlier", waiting(1, "hotline-hold-earlier"))
    ari.bridges["hotline-hold-later"] = ["later"]
    ari.bridges["hotline-hold-earlier"] = ["earlier"]
    left_behind(centre, "in-ivr", Journal())
    ari.channels["agent-9"] = "PJSIP/seat-1002"  # its caller hung up meanwhile
    ari.bridges["hotline-call-9"] = ["agent-9"]
    ari.bridges["hotline-hold-x"] = []
    centre.acd.restore("1001", AgentState.ON_CALL, None, T0, str(talking))

    await centre.service.reconcile()

    # Legs nobody takes over are hung up, our bridges left with nobody deleted.
    assert ("hangup", "agent-9") in ari.requests
    assert "hotline-call-9" not in ari.bridges and "hotline-hold-x" not in ari.bridges
    # The waiting callers are back in the queue in their order, in their bridges.
    assert [w.caller for w in centre.acd.waiting("general")] == ["13800138000"] * 2
    assert [w.enqueued_at for w in centre.acd.waiting("general")] == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=5),
    ]
    assert centre.acd.agents["1001"].state is AgentState.ON_CALL
    conversations = centre.deps.queues.conversations
    await until(lambda: talking in conversations)  # call control finds it again
    await until(lambda: journalled(centre, "earlier") and journalled(centre, "later"))
    await until(lambda: any(r[0] == "play" and r[1] == "in-ivr" for r in ari.requests))
    for channel in ("in-ivr", "later", "earlier", "talker"):  # each ends as it would
        ari.hang_up(channel)
    await centre.finished()

    talker_requests = [r for r in ari.requests if "talker" in r[1:2]]
    assert [r for r in talker_requests if r[0] in ("play", "answer", "add_channel")] == []
    assert not any(r[0] == "create_bridge" for r in ari.requests)  # nothing new was made
    ivr_plays = [str(r[3]) for r in ari.requests if r[0] == "play" and r[1] == "in-ivr"]
    assert ivr_plays and all("welcome" not in p for p in ivr_plays)  # the menu, not hello
    stays = [v for t, v in centre.records.rows if t is QueueCall]
    answered = [s for s in stays if s["outcome"] == "answered"]
    assert [(s["agent_id"], s["answered_at"], s["id"]) for s in answered] == [
        ("1001", T0, row_id("stay", RECORDING))
    ]
    [recording] = [v for t, v in centre.records.rows if t is Recording]
    assert (recording["name"], recording["id"]) == (RECORDING, row_id("recording", RECORDING))
    assert [v for t, v in centre.records.rows if t is QueueRequest] == []  # not asked twice
    assert sorted(d.value for d in centre.records.dispositions()) == sorted(
        [Disposition.ANSWERED.value]
        + [Disposition.ABANDONED.value] * 3  # the caller in the IVR and the two waiting
    )
    assert centre.acd.agents["1001"].state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    assert centre.ours_left() == (set(), set())


@pytest.mark.parametrize("stage", ["talk", "queue"])
async def test_a_journal_naming_a_node_the_flow_lost_still_does_no_harm(
    ivr: IvrRegistry, stage: str
) -> None:
    """A reload removed the queue node meanwhile: the talk still goes on (its
    stay written); a waiting caller starts again after the welcome."""
    centre = Centre(ivr, agents={"1001": AGENT}, presses=None)
    journal = Journal(
        stage=stage,
        flow="12345",
        node="gone",
        queue="general",
        enqueued_at=T0,
        agent="1001",
        leg="agent-1" if stage == "talk" else None,
        answered_at=T0 if stage == "talk" else None,
        bridge="hotline-call-1" if stage == "talk" else None,
        recording=RECORDING if stage == "talk" else None,
    )
    left_behind(centre, "c1", journal)
    if stage == "talk":
        centre.ari.channels["agent-1"] = "PJSIP/seat-1001"
        centre.ari.bridges["hotline-call-1"] = ["c1", "agent-1"]
        centre.ari.recordings[RECORDING] = "bridge:hotline-call-1"
    await centre.service.reconcile()
    if stage == "talk":
        await until(lambda: bool(centre.deps.queues.conversations))
    else:  # back in the IVR, after the welcome: the menu
        await until(lambda: any(r[0] == "play" and r[1] == "c1" for r in centre.ari.requests))
    centre.ari.hang_up("c1")
    await centre.finished()
    plays = [str(r[3]) for r in centre.ari.requests if r[0] == "play"]
    assert all("welcome" not in p for p in plays)
    if stage == "talk":
        assert plays == []
        assert len([v for t, v in centre.records.rows if t is QueueCall]) == 1
    assert centre.ours_left() == (set(), set())


async def test_a_caller_on_hold_at_the_kill_is_still_on_hold_and_can_be_taken_off(
    ivr: IvrRegistry,
) -> None:
    """On hold, the caller is out of the talk bridge (hearing music): the new
    process sees it there, and the agent's 'unhold' brings the caller back."""
    centre = Centre(ivr, agents={"1001": AGENT}, presses=None)
    ari = centre.ari
    talking = left_behind(
        centre,
        "talker",
        TALKING,
    )
    ari.channels["agent-1"] = "PJSIP/seat-1001"
    ari.up.add("agent-1")
    ari.bridges["hotline-call-1"] = ["agent-1"]  # the caller is on hold, out of it
    ari.recordings[RECORDING] = "bridge:hotline-call-1"
    centre.acd.restore("1001", AgentState.ON_CALL, None, T0, str(talking))
    await centre.service.reconcile()
    conversations = centre.deps.queues.conversations
    await until(lambda: talking in conversations)
    conversation = conversations[talking]
    assert conversation.on_hold
    assert await conversation.ask(Hold(False)) is False
    assert ("add_channel", "hotline-call-1", "talker") in [r[:3] for r in ari.requests]
    ari.hang_up("talker")
    await centre.finished()
    assert centre.ours_left() == (set(), set())
