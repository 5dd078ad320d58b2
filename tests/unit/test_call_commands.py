"""Call control through the call's own task: API commands (transfer, hold,
supervision) are done by the task waiting in Conversation.wait(), one at a
time, and refused in words when they cannot be; objects Asterisk creates for
us (a snoop) are used only once it has confirmed them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from callcenter.acd.agents import AgentState
from callcenter.ari import ChannelGone, EventRouter
from callcenter.ari.events import ChannelHangupRequest, Event, RecordingStarted, parse_event
from callcenter.calls import legs
from callcenter.calls.commands import Hold, Supervise, Transfer, TransferDone
from callcenter.calls.conversation import CallBusy, Conversation, ConversationError, Dialling, Party
from callcenter.calls.destinations import Destinations
from callcenter.directory import Destination, Directory, Entry
from callcenter.web.problems import status_for
from tests.unit.acd_support import Harness, config
from tests.unit.ari_payloads import message
from tests.unit.call_control_support import ControlAri, SnoopStart
from tests.unit.call_harness import Centre, ivr_registry
from tests.unit.test_call_transfers import Steps

DIRECTORY = Directory([Entry("SWJ", "市水务局", "88001234", "88001299")])
BRIDGE = "hotline-call-1"
AGENT_LEG = "agent-1"
CALLER = "caller-1"


class Call:
    """A caller talking with agent t1; t2 free to take a transfer; t3 a supervisor's seat."""

    def __init__(
        self,
        *,
        answers: bool = True,
        snoop_start: SnoopStart = "now",
        confirm_seconds: float = legs.STASIS_WAIT_SECONDS,
    ) -> None:
        self.router = EventRouter()
        self.ari = ControlAri(self.router, answers=answers, snoop_start=snoop_start)
        self.desk = Harness({"t1": config("t1"), "t2": config("t2")})
        self.desk.login("t2")
        self.destinations = Destinations(
            lambda: DIRECTORY, lambda: self.desk.acd.agents, CollectorRegistry()
        )
        caller = self.ari.caller(CALLER)
        self.ari.channels[AGENT_LEG] = "PJSIP/seat-t1"
        self.ari.bridges[BRIDGE] = [CALLER, AGENT_LEG]
        agent = legs.Leg(AGENT_LEG, self.ari.open_inbox(f"channel:{AGENT_LEG}"), created=True)
        self.trace = Steps()
        self.conversation = Conversation(
            uuid.uuid4(),
            CALLER,
            caller,
            BRIDGE,
            "general",
            Dialling(
                ari=self.ari,  # type: ignore[arg-type]
                open_inbox=self.ari.open_inbox,
                close_inbox=self.router.unregister,
                app="hotline",
                dial_out="PJSIP/{number}@dialout-trunk",
                seat_endpoint="PJSIP/{seat}",
                ring_timeout=5,
                acd=self.desk.acd,
                destinations=self.destinations,
                confirm_seconds=confirm_seconds,
            ),
            self.trace,
            parties=[Party(agent, agent_id="t1")],
        )
        self.talking: asyncio.Task[Event | None] = asyncio.create_task(self.conversation.wait())

    def to(self, wanted: str) -> Destination:
        return self.destinations.resolve(wanted, path="api", who="agent t1")

    async def until_request(self, *request: Any) -> None:
        """Until the ARI request (its first fields) has been made."""
        await self.ari.until(lambda: any(r[: len(request)] == request for r in self.ari.requests))

    def dialled_leg(self, prefix: str) -> str:
        [leg] = [r[1] for r in self.ari.requests if r[0] == "dial" and r[1].startswith(prefix)]
        return leg

    async def ends(self) -> Event | None:
        """The call's task returns; the queue call then closes the conversation."""
        async with asyncio.timeout(5):
            ended = await self.talking
        await self.conversation.close()
        return ended

    def left_behind(self) -> tuple[set[str], set[str]]:
        """Channels and bridges of ours still in Asterisk once the call is closed
        (the caller's and the talk bridge are the queue call's to end)."""
        channels, bridges = self.ari.ours()
        return channels - {CALLER}, bridges - {BRIDGE}


async def test_a_command_is_done_by_the_calls_own_task():
    call = Call()
    assert await call.conversation.ask(Hold(True)) is True
    assert call.ari.tasks_of("remove_channel") == [call.talking]
    assert call.ari.tasks_of("start_moh") == [call.talking]
    assert await call.conversation.ask(Hold(False)) is False
    assert call.ari.tasks_of("add_channel") == [call.talking]
    done = await call.conversation.ask(Transfer(call.to("88001234"), blind=False))
    assert done == TransferDone("88001234", ["t1"])
    assert set(call.ari.tasks_of("create_channel") + call.ari.tasks_of("dial")) == {call.talking}
    assert [k for k, _ in call.trace.steps] == ["hold", "unhold", "conference_added"]
    call.ari.hang_up(CALLER)
    assert isinstance(await call.ends(), ChannelHangupRequest)
    assert call.left_behind() == (set(), set())


async def test_a_double_clicked_hold_puts_the_caller_on_hold_once():
    call = Call()
    first, second = await asyncio.gather(
        call.conversation.ask(Hold(True)), call.conversation.ask(Hold(True))
    )
    assert first is second is True
    assert [r[0] for r in call.ari.requests] == ["remove_channel", "start_moh"]
    assert [k for k, _ in call.trace.steps] == ["hold"]
    call.ari.hang_up(CALLER)
    await call.ends()


async def test_a_hold_sent_while_a_transfer_rings_waits_for_it():
    call = Call(answers=False)
    transfer = asyncio.create_task(
        call.conversation.ask(Transfer(call.to("88001234"), blind=False))
    )
    await call.until_request("dial")
    hold = Hold(True)
    holding = asyncio.create_task(call.conversation.ask(hold))
    for _ in range(20):  # the call's task is busy ringing: the hold is not taken
        await asyncio.sleep(0)
    assert not hold.taken.is_set() and "remove_channel" not in [r[0] for r in call.ari.requests]
    call.ari.answer(call.dialled_leg("transfer-"))
    assert (await transfer).agents == ["t1"]
    assert await holding is True
    kinds = [r[0] for r in call.ari.requests]
    assert kinds.index("remove_channel") > kinds.index("add_channel")  # after the transfer
    assert [k for k, _ in call.trace.steps] == ["conference_added", "hold"]
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())


async def test_a_command_the_busy_call_never_took_is_refused_and_never_done():
    call = Call(answers=False)
    transfer = asyncio.create_task(
        call.conversation.ask(Transfer(call.to("88001234"), blind=False))
    )
    await call.until_request("dial")
    call.conversation.start_within = 0  # the next sender will not wait for its turn
    with pytest.raises(CallBusy, match="the hold was not done: the call was busy with the"):
        await call.conversation.ask(Hold(True))
    call.ari.answer(call.dialled_leg("transfer-"))
    await transfer
    for _ in range(20):
        await asyncio.sleep(0)
    assert "remove_channel" not in [r[0] for r in call.ari.requests]  # withdrawn: never done
    call.ari.hang_up(CALLER)
    await call.ends()


@pytest.mark.parametrize(("wanted", "prefix"), [("88001234", "transfer-"), ("agent:t2", "agent-")])
async def test_the_caller_hanging_up_while_a_transfer_rings_ends_it_and_the_call(
    wanted: str, prefix: str
):
    call = Call(answers=False)  # the destination rings until someone hangs up
    transfer = asyncio.create_task(call.conversation.ask(Transfer(call.to(wanted), blind=True)))
    waiting = asyncio.create_task(call.conversation.ask(Hold(True)))  # queued behind it
    await call.until_request("dial")
    leg = call.dialled_leg(prefix)
    assert call.desk["t2"].state is (
        AgentState.RINGING if prefix == "agent-" else AgentState.AVAILABLE
    )
    call.ari.hang_up(CALLER)
    with pytest.raises(ConversationError, match=r"the caller hung up while .* rang"):
        await transfer
    with pytest.raises(ConversationError, match="the hold was not done: the call ended"):
        await waiting
    assert isinstance(await call.ends(), ChannelHangupRequest)  # the caller's own event
    assert ("hangup", leg) in call.ari.requests
    assert call.left_behind() == (set(), set())  # no ringing leg, no agent leg
    assert call.desk["t2"].state is AgentState.AVAILABLE  # released, not left ringing
    assert call.conversation.transferred_to is None


async def test_a_command_after_the_call_ended_is_refused_in_words():
    call = Call()
    call.ari.hang_up(CALLER)
    await call.ends()
    for command in (
        Hold(True),
        Transfer(call.to("88001234"), blind=True),
        Supervise("barge", "seat-t3"),
    ):
        with pytest.raises(ConversationError, match="was not done: the call ended"):
            await call.conversation.ask(command)
    assert call.ari.dialled() == []


async def test_the_agent_leaving_refuses_what_waits():
    call = Call(answers=False)
    transfer = asyncio.create_task(
        call.conversation.ask(Transfer(call.to("88001234"), blind=False))
    )
    await call.until_request("dial")
    waiting = asyncio.create_task(call.conversation.ask(Hold(True)))
    call.ari.hang_up(call.dialled_leg("transfer-"))  # the department does not take it
    with pytest.raises(ConversationError, match="88001234 did not answer"):
        await transfer
    assert await waiting is True  # the next one is done after it
    call.ari.hang_up(AGENT_LEG)
    assert await call.ends() is None
    with pytest.raises(ConversationError, match="the call ended"):
        await call.conversation.ask(Hold(False))


@pytest.mark.parametrize("mode", ["listen", "whisper"])
async def test_a_snoop_joins_the_supervisors_bridge_only_once_in_stasis(mode: str):
    call = Call(snoop_start="later")
    supervising = asyncio.create_task(call.conversation.ask(Supervise(mode, "seat-t3")))
    await call.until_request("snoop")
    [snoop] = [r[2] for r in call.ari.requests if r[0] == "snoop"]
    for _ in range(20):
        await asyncio.sleep(0)
    assert not any(r[0] == "add_channel" for r in call.ari.requests)  # not before StasisStart
    call.ari.enter_stasis(snoop)
    supervisor = await supervising
    side = next(r[1] for r in call.ari.requests if r[0] == "add_channel" and r[2] == snoop)
    assert call.ari.bridges[side] == [snoop, supervisor]
    assert [r[3] for r in call.ari.requests if r[0] == "snoop"] == [
        "out" if mode == "whisper" else "none"
    ]
    assert [k for k, _ in call.trace.steps] == ["supervision"]
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())


async def test_a_snoop_that_never_enters_stasis_is_refused_and_cleaned_up():
    call = Call(snoop_start="never", confirm_seconds=0.01)
    with pytest.raises(ConversationError, match=r"did not enter Stasis within 0\.01 s"):
        await call.conversation.ask(Supervise("whisper", "seat-t3"))
    assert not any(r[0] == "add_channel" for r in call.ari.requests)
    assert call.left_behind() == ({AGENT_LEG}, set())  # the supervisor and snoop hung up
    assert call.conversation.supervisors == []
    assert not call.talking.done()  # the call goes on
    assert await call.conversation.ask(Hold(True)) is True
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())


async def test_the_caller_hanging_up_before_the_snoop_is_confirmed_ends_everything():
    call = Call(snoop_start="later")
    supervising = asyncio.create_task(call.conversation.ask(Supervise("listen", "seat-t3")))
    await call.until_request("snoop")
    call.ari.hang_up(CALLER)
    with pytest.raises(ConversationError, match="the caller hung up"):
        await supervising
    assert isinstance(await call.ends(), ChannelHangupRequest)
    assert call.left_behind() == (set(), set())


async def test_a_softphone_transfer_waits_for_the_command_in_progress():
    call = Call(answers=False)
    transfer = asyncio.create_task(
        call.conversation.ask(Transfer(call.to("agent:t2"), blind=False))
    )
    await call.until_request("dial")
    call.ari.softphone_transfer(AGENT_LEG, "88001234")
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(call.ari.dialled()) == 1  # one thing at a time
    call.ari.answer(call.dialled_leg("agent-"))
    assert (await transfer).agents == ["t1", "t2"]
    await call.trace.until("softphone_transfer")
    await call.ari.until(lambda: len(call.ari.dialled()) == 2)
    call.ari.answer(call.dialled_leg("transfer-"))
    await call.trace.until("transferred")
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())


# --- a conversation's recording, confirmed by Asterisk ---------------------------------------
def recording(router: EventRouter, event_type: str, name: str) -> None:
    recording = {"name": name, "target_uri": f"bridge:{BRIDGE}", "state": "recording"}
    router.dispatch(parse_event(message(event_type, recording=recording)))


def started(name: str) -> Callable[[Event], bool]:
    return lambda e: isinstance(e, RecordingStarted) and e.recording.name == name


async def test_a_recording_counts_once_asterisk_says_it_started():
    router = EventRouter()
    ari = ControlAri(router)
    caller, bridge = ari.caller(CALLER), ari.open_inbox(f"bridge:{BRIDGE}")
    waiting = asyncio.create_task(legs.confirmed(bridge, started("calls/x"), 5, caller))
    recording(router, "RecordingStarted", "calls/other")  # not ours
    for _ in range(20):
        await asyncio.sleep(0)
    assert not waiting.done()
    recording(router, "RecordingStarted", "calls/x")
    assert (await waiting).recording.name == "calls/x"
    with pytest.raises(TimeoutError):  # never confirmed: the queue call logs it and goes on
        await legs.confirmed(bridge, started("calls/y"), 0.01, caller)
    pending = asyncio.create_task(legs.confirmed(bridge, started("calls/z"), 5, caller))
    ari.hang_up(CALLER)
    with pytest.raises(ChannelGone) as gone:  # the caller's hang-up is seen at once
        await pending
    assert isinstance(gone.value.event, ChannelHangupRequest)


def test_refusals_reach_http_as_busy_or_conflict():
    busy = CallBusy("the hold was not done: the call was busy for 10 s; try again")
    assert (status_for(busy), busy.retry_after) == (503, 2)  # nothing done: come back
    assert status_for(ConversationError("the hold was not done: the call ended")) == 409


async def test_a_leg_in_stasis_after_its_call_gave_up_is_hung_up_not_served(tmp_path: Path):
    centre = Centre(ivr_registry(tmp_path / "flows"))
    centre.ari.arrive("snoop-late", args=("snoop",))  # its call stopped waiting for it
    async with asyncio.timeout(5):
        while ("hangup", "snoop-late") not in centre.ari.requests:
            await centre.ari.asked()
    assert centre.records.opened() == []  # no call record, no IVR for it
    assert not any(r[0] in ("answer", "play") for r in centre.ari.requests)
    assert centre.ours_left() == (set(), set())


async def test_an_agent_who_hangs_up_first_leaves_nothing_open():
    call = Call()
    call.ari.hang_up(AGENT_LEG)
    assert await call.ends() is None  # nobody left to talk to
    assert call.left_behind() == (set(), set())
    assert call.router.keys() == [f"channel:{CALLER}"]  # the agent leg's inbox closed


async def test_an_agent_who_answered_but_could_not_join_goes_to_wrap_up():
    call = Call()
    call.ari.fail("add_channel", 500)  # Asterisk refuses to bridge the answered seat
    with pytest.raises(ConversationError):
        await call.conversation.ask(Transfer(call.to("agent:t2"), blind=False))
    assert call.desk["t2"].state is AgentState.ON_CALL  # answered: on the call until...
    assert call.conversation.finished_agents == ["t2"]  # ...the queue call wraps them up
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())
