"""What a restarted service decides for the calls a killed one left in Asterisk,
and how agents get their state back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.acd.agents import AgentState
from callcenter.ari.events import Bridge, Channel
from callcenter.calls.adoption import Found, plan, safe_node
from callcenter.calls.journal import Journal
from callcenter.ivr.flowset import parse_flow_files
from tests.unit.acd_support import Harness, config, settle

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PREFIX = "hotline-"


def channel(channel_id: str, caller: str = "13800000000") -> Channel:
    return Channel(
        id=channel_id,
        name=f"PJSIP/citizen-{channel_id}",
        state="Up",
        caller_number=caller,
        caller_name="",
        exten="12345",
        context="from-citizens",
        linkedid=channel_id,
        language="zh",
        creationtime=T0,
        app_name="Stasis",
        app_data="hotline",
    )


def talking(call_id: uuid.UUID, leg: str = "agent-1", bridge: str = "hotline-call-1") -> Journal:
    return Journal(
        stage="talk",
        flow="queue",
        node="wait",
        queue="general",
        agent="t1",
        leg=leg,
        answered_at=T0,
        bridge=bridge,
        recording=f"calls/2026/12/01/{call_id}-1",
        attempts=1,
    )


def waiting(minutes: int, priority: int = 0, hold: str | None = None) -> Journal:
    return Journal(
        stage="queue",
        flow="queue",
        node="wait",
        queue="general",
        priority=priority,
        enqueued_at=T0 + timedelta(minutes=minutes),
        hold_bridge=hold,
    )


def test_a_conversation_is_taken_over_with_its_bridge_leg_and_agent() -> None:
    call_id = uuid.uuid4()
    caller, leg = channel("c1"), channel("agent-1")
    decided = plan(
        [Found(caller, call_id, talking(call_id))],
        [caller, leg],
        [Bridge("hotline-call-1", "mixing", ("c1", "agent-1"))],
        owned=set(),
        bridge_prefix=PREFIX,
    )
    [taken] = decided.adopt
    assert taken.stage == "talk" and taken.journal.leg == "agent-1" and not taken.on_hold
    assert taken.journal.recording == f"calls/2026/12/01/{call_id}-1"
    assert decided.hang_up == [] and decided.delete == []  # the conversation is not cut
    assert decided.on_call == {"t1": call_id}


def test_a_conversation_whose_agent_left_meanwhile_ends_without_its_leg() -> None:
    call_id = uuid.uuid4()
    caller = channel("c1")
    decided = plan(
        [Found(caller, call_id, talking(call_id))],
        [caller],
        [Bridge("hotline-call-1", "mixing", ("c1",))],
        owned=set(),
        bridge_prefix=PREFIX,
    )
    [taken] = decided.adopt
    assert taken.stage == "talk" and taken.journal.leg is None
    assert decided.on_call == {}  # the agent is not held on a call nobody has
    assert decided.delete == []  # the caller's task ends the conversation and deletes it


def test_waiting_callers_keep_their_order_and_their_holding_bridge() -> None:
    first, second, urgent = (channel(f"c{i}") for i in (1, 2, 3))
    decided = plan(
        [
            Found(second, uuid.uuid4(), waiting(5, hold="hotline-hold-2")),
            Found(first, uuid.uuid4(), waiting(1, hold="hotline-hold-gone")),
            Found(urgent, uuid.uuid4(), waiting(9, priority=5, hold="hotline-hold-3")),
        ],
        [first, second, urgent],
        [
            Bridge("hotline-hold-2", "holding", ("c2",)),
            Bridge("hotline-hold-3", "holding", ("c3",)),
        ],
        owned=set(),
        bridge_prefix=PREFIX,
    )
    assert [a.channel.id for a in decided.adopt] == ["c3", "c1", "c2"]
    assert [a.stage for a in decided.adopt] == ["queue"] * 3
    holds = {a.channel.id: a.journal.hold_bridge for a in decided.adopt}
    assert holds == {"c3": "hotline-hold-3", "c1": None, "c2": "hotline-hold-2"}
    assert decided.delete == []


def test_ivr_callers_legs_and_bridges_left_behind() -> None:
    ivr, no_journal, orphan, ours = (
        channel("c1"),
        channel("c2"),
        channel("agent-9"),
        channel("agent-5"),
    )
    decided = plan(
        [Found(ivr, uuid.uuid4(), Journal()), Found(no_journal, None, None)],
        [ivr, no_journal, orphan, ours],
        [
            Bridge("hotline-call-9", "mixing", ("agent-9",)),  # its caller hung up meanwhile
            Bridge("hotline-hold-x", "holding", ()),
            Bridge("hotline-call-5", "mixing", ("agent-5", "c-live")),  # a live call of ours
            Bridge("someone-else", "mixing", ()),
        ],
        owned={"agent-5", "c-live"},
        bridge_prefix=PREFIX,
    )
    assert [(a.channel.id, a.stage) for a in decided.adopt] == [("c1", "ivr"), ("c2", "ivr")]
    assert decided.hang_up == ["agent-9"]
    assert sorted(decided.delete) == ["hotline-call-9", "hotline-hold-x"]


def test_the_journal_reads_back_what_was_written_and_refuses_garbage() -> None:
    call_id = uuid.uuid4()
    journal = talking(call_id)
    text = journal.encode()
    assert "," in text and len(text) < 400  # one channel variable, one round trip
    assert Journal.decode(text) == journal
    assert Journal.decode(waiting(3, priority=2).encode()) == waiting(3, priority=2)
    for bad in ("", None, "{", "[]", '{"stage":"dancing"}', '{"enqueued_at":"yesterday"}'):
        assert Journal.decode(bad) is None


def test_an_ivr_caller_resumes_after_the_welcome() -> None:
    flows, errors = parse_flow_files(
        [ROOT / "ivr_flows" / "12345.yaml", ROOT / "ivr_flows" / "voicemail.yaml"],
        ROOT / "ivr_flows" / "prompts",
    )
    assert not [e for e in errors if not e.warning]
    # welcome (a prompt) is skipped; the business-hours branch still runs.
    assert flows.flows["12345"].start == "welcome"
    assert safe_node(flows, "12345") == "hours"
    simple, _ = parse_flow_files(
        [ROOT / "tests" / "integration" / "flows" / "simple" / "simple.yaml"],
        ROOT / "ivr_flows" / "prompts",
    )
    assert safe_node(simple, "simple") == "bye"


async def test_agents_take_back_their_state_and_calls_that_did_not_survive_are_settled() -> None:
    desk = Harness({a: config(a) for a in ("t1", "t2", "t3", "t4", "t5", "t6")})
    call = str(uuid.uuid4())
    desk.acd.restore("t1", AgentState.PAUSED, "break", T0)
    desk.acd.restore("t2", AgentState.AVAILABLE, None, T0)
    desk.acd.restore("t3", AgentState.ON_CALL, None, T0, call)  # its call is taken over
    desk.acd.restore("t4", AgentState.ON_CALL, None, T0, str(uuid.uuid4()))  # call gone
    desk.acd.restore("t5", AgentState.RINGING, "general", T0, str(uuid.uuid4()))
    desk.acd.restore("t6", AgentState.AVAILABLE, None, T0)  # but its call was taken over
    assert desk.changes == []  # taking back a state is not a change
    desk.acd.resume_call("t3", call)
    desk.acd.resume_call("t6", call)
    desk.acd.settle_after_restart({"t3", "t6"})
    await settle()
    states = desk.states()
    assert states["t1"] is AgentState.PAUSED and desk["t1"].reason == "break"
    assert states["t2"] is AgentState.AVAILABLE
    assert states["t3"] is AgentState.ON_CALL and desk["t3"].call_id == call
    assert states["t6"] is AgentState.ON_CALL
    assert states["t5"] is AgentState.AVAILABLE  # the ring is over
    # The conversation that is gone went through its wrap-up (0 s here) to available.
    assert [s for a, s, _ in desk.changes if a == "t4"] == [
        AgentState.WRAP_UP,
        AgentState.AVAILABLE,
    ]
    assert ("t3", AgentState.ON_CALL, "resumed") not in desk.changes  # already on that call


def test_a_flow_may_name_where_callers_resume(tmp_path: Path) -> None:
    text = (ROOT / "tests" / "integration" / "flows" / "simple" / "simple.yaml").read_text()
    resume = text.replace("start: welcome", "start: welcome\nresume: bye")
    (tmp_path / "simple.yaml").write_text(resume)
    flows, errors = parse_flow_files([tmp_path / "simple.yaml"], ROOT / "ivr_flows" / "prompts")
    assert not errors and safe_node(flows, "simple") == "bye"


def test_a_resume_node_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    from callcenter.ivr.validate import check

    text = (ROOT / "tests" / "integration" / "flows" / "simple" / "simple.yaml").read_text()
    resume = text.replace("start: welcome", "start: welcome\nresume: menu")
    (tmp_path / "simple.yaml").write_text(resume)
    flows, errors = parse_flow_files([tmp_path / "simple.yaml"], ROOT / "ivr_flows" / "prompts")
    assert not errors
    found = check(flows, queues=[])
    assert any(e.field == "resume" and "menu" in str(e) for e in found), found
