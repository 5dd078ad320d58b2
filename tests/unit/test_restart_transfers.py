"""A kill -9 after a transfer, a three-way call or an IVR transfer: the restarted
service keeps whoever was talking to the caller.

The first process runs for real (the real CallService, sessions, interpreter,
ACD and conversation over the fake Asterisk) and writes the journal itself;
the kill is a second Centre taking over what the first left in Asterisk
(channels, bridges, recordings, channel variables) and the agents' last
logged states. The dead process's tasks are then cancelled against its own
fake Asterisk, so nothing they do reaches the one the new process serves."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.acd.agents import AgentState
from callcenter.acd.roster import AgentConfig
from callcenter.ari.events import Bridge, Channel
from callcenter.calls import ari_port, legs, queue_call, session
from callcenter.calls.adoption import Found, plan
from callcenter.calls.commands import Transfer, TransferDone
from callcenter.calls.conversation import Conversation
from callcenter.calls.journal import JOURNAL_VAR, Journal, PartyNote, row_id
from callcenter.calls.service import LEGACY_CALL_ID_VAR
from callcenter.db.models import Disposition, QueueCall, Recording
from callcenter.directory import Directory, Entry
from callcenter.ivr.registry import IvrPaths, IvrRegistry
from tests.unit.call_harness import PROMPTS, ROOT, Centre, until

DIRECTORY = Directory([Entry("SWJ", "市水务局", "88001234", "88001299")])
AGENTS = {
    agent: AgentConfig(
        name=f"Agent {agent}", seat=f"seat-{agent}", skills={"general": 5}, languages=["zh"]
    )
    for agent in ("1001", "1002")
}
CALLER = "caller-1"
DEPARTMENT = "PJSIP/88001234@dialout-trunk"
# 1: the queue (agent 1001 answers); 2: the transfer node to the water department.
FLOW = """\
numbers: ["12345"]
language: zh
start: welcome
nodes:
  welcome:
    type: play
    prompts: [welcome]
    next: menu
  menu:
    type: menu
    prompts: [main_menu]
    choices: {"1": wait, "2": dept, "0": menu}
    timeout: 5
    max_retries: 1
    on_fail: goodbye
  wait:
    type: queue
    queue: general
    next: goodbye
  dept:
    type: transfer
    number: "dept:SWJ"
    next: goodbye
  goodbye:
    type: play
    prompts: [goodbye]
    interruptible: false
    next: bye
  bye:
    type: hangup
"""


@pytest.fixture(scope="module")
def ivr(tmp_path_factory: pytest.TempPathFactory) -> IvrRegistry:
    flows = tmp_path_factory.mktemp("ivr") / "flows"
    flows.mkdir()
    (flows / "12345.yaml").write_text(FLOW, encoding="utf-8")
    return IvrRegistry(
        IvrPaths(
            flows_dir=flows,
            prompts_dir=PROMPTS,
            calendar=ROOT / "config" / "calendar.yaml",
            queues=ROOT / "config" / "queues.yaml",
            lookup_fixture=ROOT / "config" / "lookup_fixture.yaml",
            directory=ROOT / "config" / "directory.yaml",
        )
    )


@pytest.fixture(autouse=True)
def short_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    monkeypatch.setattr(legs, "LEG_END_SECONDS", 0.0)
    monkeypatch.setattr(queue_call, "RECORDING_END_SECONDS", 0.0)


def centre(ivr: IvrRegistry, presses: str | None) -> Centre:
    c = Centre(ivr, agents=AGENTS, presses=presses)
    c.deps.queues.destinations.directory = lambda: DIRECTORY
    for agent in AGENTS.values():
        c.acd.seat_registered(agent.seat, True)
    return c


class Restart:
    """The first process, killed once the test has brought the caller where it
    wants, and the one started after it."""

    def __init__(self, ivr: IvrRegistry, presses: str) -> None:
        self.ivr = ivr
        self.old = centre(ivr, presses)
        self.old.acd.request_state("1001", AgentState.AVAILABLE)
        self.new: Centre | None = None
        self.new_centre: Centre | None = None  # the process started after the kill, if set up
        self.rows_before: list[tuple[Any, dict[str, Any]]] = []

    async def talking(self) -> Conversation:
        """The caller presses 1 and agent 1001 answers: the first process's conversation."""
        self.old.ari.arrive(CALLER)
        conversations = self.old.deps.queues.conversations
        await until(lambda: bool(conversations) and "record_bridge" in self.old.ari.kinds())
        [conversation] = conversations.values()
        return conversation

    def to(self, wanted: str) -> Any:
        return self.old.deps.queues.destinations.resolve(wanted, path="api", who="agent 1001")

    async def kill(self) -> Centre:
        """kill -9: Asterisk keeps everything; a new process reconciles."""
        old, new = self.old, self.new_centre or centre(self.ivr, None)
        new.ari.channels = dict(old.ari.channels)
        new.ari.up = set(old.ari.up)
        new.ari.bridges = {b: list(members) for b, members in old.ari.bridges.items()}
        new.ari.recordings = dict(old.ari.recordings)
        new.ari.stored = dict(old.ari.stored)
        new.ari.variables = dict(old.ari.variables)
        now = datetime.now(UTC)
        for agent in old.acd.agents.values():  # agent_state_log's last states
            new.acd.restore(agent.id, agent.state, agent.reason, now, agent.call_id)
        self.rows_before = list(old.records.rows)
        await old.service.drain(0)  # its tasks die against the old fake only
        self.new = new
        await new.service.reconcile()
        return new

    def journal(self) -> Journal:
        assert self.new is not None
        journal = Journal.decode(self.new.ari.variables[(CALLER, JOURNAL_VAR)])
        assert journal is not None
        return journal

    def rows(self, table: Any) -> list[dict[str, Any]]:
        """Rows of ``table`` both processes wrote (the old one until the kill)."""
        assert self.new is not None
        return [v for t, v in [*self.rows_before, *self.new.records.rows] if t is table]


def legs_dialled(c: Centre, prefix: str) -> list[str]:
    return [r[1] for r in c.ari.requests if r[0] == "dial" and r[1].startswith(prefix)]


def hung_up(c: Centre, channel_id: str) -> bool:
    return ("hangup", channel_id) in c.ari.requests


def one_answered_stay(r: Restart, transferred_to: str | None) -> None:
    """The stay and the recording of the conversation are written once, by
    either process, with the agent who answered and the time across the kill."""
    [stay] = [s for s in r.rows(QueueCall) if s["outcome"] == "answered"]
    recording_name = r.journal().recording
    assert recording_name is not None
    assert stay["agent_id"] == "1001" and stay["id"] == row_id("stay", recording_name)
    assert stay["transferred_to"] == transferred_to
    [recording] = r.rows(Recording)
    assert recording["id"] == row_id("recording", recording_name)


async def finished(c: Centre) -> None:
    await c.finished()
    await until(lambda: all(a.state is not AgentState.WRAP_UP for a in c.acd.agents.values()))


# --- a blind transfer to a department -------------------------------------------------------
@pytest.mark.parametrize("who_hangs_up", ["department", "caller"])
async def test_a_blind_transfer_survives_a_kill_and_ends_when_either_hangs_up(
    ivr: IvrRegistry, who_hangs_up: str
) -> None:
    r = Restart(ivr, "1")
    conversation = await r.talking()
    done = await conversation.ask(Transfer(r.to("dept:SWJ"), blind=True))
    assert done == TransferDone("88001234", [])
    [agent_leg] = legs_dialled(r.old, "agent-")
    [department] = legs_dialled(r.old, "transfer-")
    assert hung_up(r.old, agent_leg)  # blind: the agent left

    new = await r.kill()
    journal = r.journal()
    assert journal.stage == "talk"
    assert journal.parties == (PartyNote(department, number="88001234"),)
    assert not hung_up(new, department)  # the department is not an orphan
    await until(lambda: bool(new.deps.queues.conversations))
    [resumed] = new.deps.queues.conversations.values()
    assert [p.leg.id for p in resumed.parties] == [department]
    assert new.acd.agents["1001"].state in (AgentState.WRAP_UP, AgentState.AVAILABLE)

    if who_hangs_up == "department":
        new.ari.hang_up(department)
    else:
        new.ari.hang_up(CALLER)
    await finished(new)

    if who_hangs_up == "department":
        assert hung_up(new, CALLER)  # the call ends with the department's part
    else:
        assert hung_up(new, department)
    assert new.records.dispositions() == [Disposition.ANSWERED]
    one_answered_stay(r, "88001234")
    assert not [q for q in new.ari.requests if q[0] in ("play", "create_channel", "dial")]
    assert new.ours_left() == (set(), set())
    assert new.acd.agents["1001"].state is AgentState.AVAILABLE


async def test_a_department_that_hung_up_during_the_take_over_ends_the_call(
    ivr: IvrRegistry,
) -> None:
    """Gone between the reconcile's listing and its inbox: no event tells the new
    process, so it asks Asterisk once."""
    r = Restart(ivr, "1")
    conversation = await r.talking()
    await conversation.ask(Transfer(r.to("dept:SWJ"), blind=True))
    [department] = legs_dialled(r.old, "transfer-")
    new = await r.kill()
    new.ari.hang_up(department)  # before the caller's new task has run
    await finished(new)
    assert hung_up(new, CALLER)
    assert new.records.dispositions() == [Disposition.ANSWERED]
    one_answered_stay(r, "88001234")
    assert new.ours_left() == (set(), set())


# --- a three-way call -----------------------------------------------------------------------
async def test_a_three_way_call_survives_a_kill_and_goes_on_when_one_party_leaves(
    ivr: IvrRegistry,
) -> None:
    r = Restart(ivr, "1")
    conversation = await r.talking()
    r.old.acd.request_state("1002", AgentState.AVAILABLE)
    done = await conversation.ask(Transfer(r.to("agent:1002"), blind=False))
    assert done.agents == ["1001", "1002"]
    [first, second] = legs_dialled(r.old, "agent-")

    new = await r.kill()
    assert r.journal().parties == (PartyNote(first, "1001"), PartyNote(second, "1002"))
    assert not hung_up(new, first) and not hung_up(new, second)
    await until(lambda: bool(new.deps.queues.conversations))
    [resumed] = new.deps.queues.conversations.values()
    assert resumed.agents == ["1001", "1002"]
    assert new.acd.agents["1001"].state is AgentState.ON_CALL
    assert new.acd.agents["1002"].state is AgentState.ON_CALL

    new.ari.hang_up(first)  # agent 1001 leaves; 1002 goes on with the caller
    await until(lambda: resumed.agents == ["1002"])
    assert CALLER in new.ari.channels and new.service.active() == 1
    # A further transfer works from the restarted process too, and is journalled.
    done = await resumed.ask(
        Transfer(
            new.deps.queues.destinations.resolve("dept:SWJ", path="api", who="agent 1002"),
            blind=True,
        )
    )
    assert done == TransferDone("88001234", [])
    [department] = legs_dialled(new, "transfer-")
    assert hung_up(new, second)
    assert r.journal().parties == (PartyNote(department, number="88001234"),)
    assert r.journal().transferred_to == "88001234"

    new.ari.hang_up(CALLER)
    await finished(new)
    assert hung_up(new, department)
    assert new.records.dispositions() == [Disposition.ANSWERED]
    one_answered_stay(r, "88001234")
    assert new.ours_left() == (set(), set())
    assert {a.state for a in new.acd.agents.values()} == {AgentState.AVAILABLE}


async def test_a_three_way_call_with_a_department_loses_nobody_when_the_agent_leaves(
    ivr: IvrRegistry,
) -> None:
    r = Restart(ivr, "1")
    conversation = await r.talking()
    await conversation.ask(Transfer(r.to("dept:SWJ"), blind=False))
    [agent_leg] = legs_dialled(r.old, "agent-")
    [department] = legs_dialled(r.old, "transfer-")
    new = await r.kill()
    await until(lambda: bool(new.deps.queues.conversations))
    [resumed] = new.deps.queues.conversations.values()
    assert [p.leg.id for p in resumed.parties] == [agent_leg, department]
    new.ari.hang_up(agent_leg)  # the agent hands over: caller and department go on
    await until(lambda: [p.leg.id for p in resumed.parties] == [department])
    assert not hung_up(new, CALLER)
    new.ari.hang_up(department)
    await finished(new)
    assert hung_up(new, CALLER)
    one_answered_stay(r, "88001234")
    assert new.ours_left() == (set(), set())


# --- the IVR's transfer node ----------------------------------------------------------------
@pytest.mark.parametrize("who_hangs_up", ["department", "caller"])
async def test_a_caller_the_ivr_sent_to_a_department_stays_with_it_after_a_kill(
    ivr: IvrRegistry, who_hangs_up: str
) -> None:
    r = Restart(ivr, "2")
    r.old.ari.arrive(CALLER)
    await until(lambda: bool(legs_dialled(r.old, "transfer-")))
    [department] = legs_dialled(r.old, "transfer-")
    await until(lambda: any(department in m for m in r.old.ari.bridges.values()))
    await until(lambda: '"stage":"transfer"' in r.old.ari.variables.get((CALLER, JOURNAL_VAR), ""))
    [bridge] = [b for b, m in r.old.ari.bridges.items() if department in m]

    new = await r.kill()
    journal = r.journal()
    assert (journal.stage, journal.bridge, journal.flow, journal.node) == (
        "transfer",
        bridge,
        "12345",
        "dept",
    )
    assert journal.parties == (PartyNote(department, number="88001234"),)
    assert not hung_up(new, department) and bridge in new.ari.bridges
    await until(lambda: ("subscribe", f"channel:{department}") in new.ari.requests)
    assert new.service.active() == 1

    new.ari.hang_up(department if who_hangs_up == "department" else CALLER)
    await finished(new)
    assert hung_up(new, CALLER if who_hangs_up == "department" else department)
    # Not back at the menu: nothing played, nothing dialled again.
    assert not [q for q in new.ari.requests if q[0] in ("play", "create_channel")]
    [close] = new.records.closes
    assert (close.disposition, close.last_stage) == (Disposition.TRANSFERRED, "12345/dept")
    assert new.ours_left() == (set(), set())


async def test_an_ivr_transfer_whose_department_left_during_the_kill_ends_the_call(
    ivr: IvrRegistry,
) -> None:
    r = Restart(ivr, "2")
    r.old.ari.arrive(CALLER)
    await until(lambda: '"stage":"transfer"' in r.old.ari.variables.get((CALLER, JOURNAL_VAR), ""))
    [department] = legs_dialled(r.old, "transfer-")
    r.old.ari.hang_up(department)  # ... while no process was there
    r.old.ari.hold()  # its events never reach the dying process
    new = await r.kill()
    await finished(new)
    assert hung_up(new, CALLER)
    assert not [q for q in new.ari.requests if q[0] == "play"]
    assert new.records.dispositions() == [Disposition.TRANSFERRED]
    assert new.ours_left() == (set(), set())


# --- a journal the previous version wrote ----------------------------------------------------
OLD_JOURNAL = (
    '{"stage":"talk","flow":"12345","node":"wait","queue":"general",'
    '"enqueued_at":"2026-12-01T09:00:00+00:00","attempts":1,"agent":"1001","leg":"agent-1",'
    '"answered_at":"2026-12-01T09:00:05+00:00","bridge":"hotline-call-1",'
    '"recording":"calls/2026/12/01/old-1"}'
)


def test_a_journal_of_the_previous_version_still_decodes() -> None:
    journal = Journal.decode(OLD_JOURNAL)
    assert journal is not None
    assert (journal.stage, journal.agent, journal.leg) == ("talk", "1001", "agent-1")
    assert journal.parties is None and journal.transferred_to is None
    assert journal.talkers() == (PartyNote("agent-1", "1001"),)
    assert Journal.decode(journal.encode()) == journal  # and writes back the same


async def test_a_conversation_journalled_by_the_previous_version_is_taken_over(
    ivr: IvrRegistry,
) -> None:
    c = centre(ivr, None)
    call_id = uuid.uuid4()
    c.ari.channels.update({CALLER: "PJSIP/citizen-trunk", "agent-1": "PJSIP/seat-1001"})
    c.ari.up.update({CALLER, "agent-1"})
    c.ari.variables[(CALLER, LEGACY_CALL_ID_VAR)] = str(call_id)  # its id, then
    c.ari.variables[(CALLER, JOURNAL_VAR)] = OLD_JOURNAL
    c.ari.bridges["hotline-call-1"] = [CALLER, "agent-1"]
    c.ari.recordings["calls/2026/12/01/old-1"] = "bridge:hotline-call-1"
    c.acd.restore("1001", AgentState.ON_CALL, None, datetime.now(UTC), str(call_id))
    await c.service.reconcile()
    assert not hung_up(c, "agent-1")
    await until(lambda: call_id in c.deps.queues.conversations)
    resumed = c.deps.queues.conversations[call_id]
    assert resumed.agents == ["1001"]
    # Its first transfer writes the new journal's parties.
    await resumed.ask(
        Transfer(c.deps.queues.destinations.resolve("dept:SWJ", path="api", who="t"), blind=True)
    )
    [department] = legs_dialled(c, "transfer-")
    written = Journal.decode(c.ari.variables[(CALLER, JOURNAL_VAR)])
    assert written is not None and written.parties == (PartyNote(department, number="88001234"),)
    assert written.agent == "1001" and written.recording == "calls/2026/12/01/old-1"
    c.ari.hang_up(CALLER)
    await finished(c)
    [stay] = [v for t, v in c.records.rows if t is QueueCall]
    assert (stay["agent_id"], stay["transferred_to"]) == ("1001", "88001234")
    assert c.ours_left() == (set(), set())


# --- the plan alone (pure data) -------------------------------------------------------------
def channel(channel_id: str) -> Channel:
    return Channel.from_json({"id": channel_id, "name": f"PJSIP/{channel_id}", "state": "Up"})


def test_the_plan_keeps_the_parties_a_transfer_journalled_and_hangs_up_the_rest() -> None:
    call_id = uuid.uuid4()
    journal = Journal(
        stage="talk",
        agent="1001",
        leg="agent-old",  # the agent who answered, transferred away since
        bridge="hotline-call-1",
        recording="calls/x-1",
        parties=(PartyNote("transfer-d", number="88001234"), PartyNote("agent-2", "1002")),
    )
    ids = ("c1", "agent-old", "transfer-d", "agent-2", "agent-gone")
    decided = plan(
        [Found(channel("c1"), call_id, journal)],
        [channel(i) for i in ids if i != "agent-gone"],
        [Bridge("hotline-call-1", "mixing", ("c1", "transfer-d", "agent-2"))],
        owned=set(),
        bridge_prefix="hotline-",
    )
    [taken] = decided.adopt
    assert taken.journal.parties == journal.parties and taken.journal.leg is None
    assert decided.hang_up == ["agent-old"]  # still ringing out its hang-up: not the call's
    assert decided.on_call == {"1002": call_id}
    assert decided.delete == []


def test_the_plan_keeps_an_ivr_transfer_and_ends_one_whose_bridge_is_gone() -> None:
    kept, ended = uuid.uuid4(), uuid.uuid4()
    with_dept = Journal(
        stage="transfer",
        bridge="hotline-abc",
        parties=(PartyNote("transfer-d", number="88001234"),),
    )
    decided = plan(
        [
            Found(channel("c1"), kept, with_dept),
            Found(channel("c2"), ended, Journal(stage="transfer", bridge="hotline-gone")),
        ],
        [channel("c1"), channel("c2"), channel("transfer-d")],
        [Bridge("hotline-abc", "mixing", ("c1", "transfer-d"))],
        owned=set(),
        bridge_prefix="hotline-",
    )
    assert [(a.channel.id, a.stage, a.journal.parties) for a in decided.adopt] == [
        ("c1", "transfer", with_dept.parties),
        ("c2", "transfer", ()),
    ]
    assert decided.hang_up == [] and decided.delete == [] and decided.on_call == {}
    assert not any(a.on_hold for a in decided.adopt)


async def test_a_department_gone_before_the_ivr_take_over_listened_ends_the_call(
    ivr: IvrRegistry,
) -> None:
    r = Restart(ivr, "2")
    r.old.ari.arrive(CALLER)
    await until(lambda: '"stage":"transfer"' in r.old.ari.variables.get((CALLER, JOURNAL_VAR), ""))
    [department] = legs_dialled(r.old, "transfer-")
    new = await r.kill()
    new.ari.hang_up(department)  # before the caller's new task has opened its inbox
    await finished(new)
    assert hung_up(new, CALLER)
    assert new.records.dispositions() == [Disposition.TRANSFERRED]
    assert new.ours_left() == (set(), set())


@pytest.mark.parametrize(
    ("status", "disposition"),
    [(404, Disposition.TRANSFERRED), (500, Disposition.LOST)],
    ids=["caller-hung-up", "asterisk-refused"],
)
async def test_an_ivr_transfer_whose_take_over_fails_at_once_frees_the_department(
    ivr: IvrRegistry, status: int, disposition: Disposition
) -> None:
    """The take-over's first request fails: the department is not left on an
    open line until some later reconcile."""
    r = Restart(ivr, "2")
    r.old.ari.arrive(CALLER)
    await until(lambda: '"stage":"transfer"' in r.old.ari.variables.get((CALLER, JOURNAL_VAR), ""))
    [department] = legs_dialled(r.old, "transfer-")
    [bridge] = [b for b, m in r.old.ari.bridges.items() if department in m]
    new = centre(ivr, None)
    new.ari.fail("get_channel", status, nth=1)  # is the caller still there?
    r.new_centre = new
    await r.kill()
    await finished(new)
    assert hung_up(new, department) and ("delete_bridge", bridge) in new.ari.requests
    [close] = new.records.closes
    assert (close.disposition, close.last_stage) == (disposition, "12345/dept")
    assert new.ours_left() == (set(), set())


async def test_a_second_talk_of_the_same_call_journals_its_own_agent_not_the_first_talks_parties(
    tmp_path: Path,
) -> None:
    """After a transferred conversation the flow queues the caller again: the new
    talk's journal names its agent's leg, not the department of the first."""
    flows = tmp_path / "flows"
    flows.mkdir()
    again = FLOW.replace("    queue: general\n", "    queue: general\n    after_call: menu\n")
    (flows / "12345.yaml").write_text(again, encoding="utf-8")
    registry = IvrRegistry(
        IvrPaths(
            flows_dir=flows,
            prompts_dir=PROMPTS,
            calendar=ROOT / "config" / "calendar.yaml",
            queues=ROOT / "config" / "queues.yaml",
            lookup_fixture=ROOT / "config" / "lookup_fixture.yaml",
            directory=ROOT / "config" / "directory.yaml",
        )
    )
    r = Restart(registry, "1")
    conversation = await r.talking()
    await conversation.ask(Transfer(r.to("dept:SWJ"), blind=True))
    [department] = legs_dialled(r.old, "transfer-")
    r.old.ari.hang_up(department)  # back to the menu, 1 again: agent 1001 answers again
    await until(lambda: len(legs_dialled(r.old, "agent-")) == 2 and len(r.old.ari.recordings) == 1)
    await until(lambda: '"stage":"talk"' in r.old.ari.variables[(CALLER, JOURNAL_VAR)])
    second = legs_dialled(r.old, "agent-")[1]
    await until(lambda: f'"leg":"{second}"' in r.old.ari.variables[(CALLER, JOURNAL_VAR)])
    journal = Journal.decode(r.old.ari.variables[(CALLER, JOURNAL_VAR)])
    assert journal is not None
    assert journal.parties is None and journal.transferred_to is None
    assert journal.talkers() == (PartyNote(second, "1001"),)
    await r.old.service.drain(0)


async def test_a_transferred_talk_whose_take_over_fails_at_once_frees_the_department(
    ivr: IvrRegistry,
) -> None:
    """The caller hangs up during the take-over's first request: the department's
    leg (not only the agent who answered) is hung up, the rows written once."""
    r = Restart(ivr, "1")
    conversation = await r.talking()
    await conversation.ask(Transfer(r.to("dept:SWJ"), blind=True))
    [department] = legs_dialled(r.old, "transfer-")
    r.new_centre = new = centre(ivr, None)
    new.ari.fail("get_channel", 404, nth=1)  # is the caller still there?
    await r.kill()
    await finished(new)
    assert hung_up(new, department)
    assert new.records.dispositions() == [Disposition.ANSWERED]
    one_answered_stay(r, "88001234")
    assert new.ours_left() == (set(), set())


async def test_an_ivr_transfer_taken_over_survives_asterisk_refusing_the_department_check(
    ivr: IvrRegistry,
) -> None:
    """A busy Asterisk refusing the take-over's look at the department's leg
    (500) does not cut the caller from the department: its events will tell."""
    r = Restart(ivr, "2")
    r.old.ari.arrive(CALLER)
    await until(lambda: '"stage":"transfer"' in r.old.ari.variables.get((CALLER, JOURNAL_VAR), ""))
    [department] = legs_dialled(r.old, "transfer-")
    new = centre(ivr, None)
    new.ari.fail("get_channel", 500, nth=2)  # the first: is the caller still there?
    r.new_centre = new
    await r.kill()
    await until(lambda: ("get_channel", department) in new.ari.requests)
    await until(lambda: ("subscribe", f"channel:{department}") in new.ari.requests)
    assert not hung_up(new, department) and new.service.active() == 1
    new.ari.hang_up(CALLER)
    await finished(new)
    assert hung_up(new, department)
    [close] = new.records.closes
    assert (close.disposition, close.last_stage) == (Disposition.TRANSFERRED, "12345/dept")
    assert new.ours_left() == (set(), set())
