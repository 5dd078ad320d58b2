"""One caller's stay in a queue, run in the caller's own task.

Wait in a holding bridge with music; hear the position and expected wait now
and then; when the ACD reserves an agent, ring the seat (the caller's number
shown); on answer, move both into a mixing bridge and record it; on no
answer, the agent is paused and the caller goes back to their place. Too long
a wait overflows as the queue says. Every attempt goes into the timeline and
the stay into ``queue_calls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callcenter import logs
from callcenter.acd.agents import Agent
from callcenter.acd.queues import QueueConfig
from callcenter.acd.service import AcdService, Waiting
from callcenter.ari import AriError, AriNotFound, ChannelGone, Inbox
from callcenter.ari.events import (
    ChannelDtmfReceived,
    Event,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
)
from callcenter.calls import legs
from callcenter.calls.acd_store import AcdStore, QueueStay
from callcenter.calls.ari_port import AriCallPort
from callcenter.calls.conversation import Conversation, Dialling, Party, resumed_parties
from callcenter.calls.destinations import Destinations
from callcenter.calls.journal import CallJournal, Journal, row_id
from callcenter.ivr.port import CallInfo, QueueResult, Trace
from callcenter.ivr.prompts import PromptLibrary
from callcenter.recording.store import save_recording

log = logging.getLogger(__name__)

# Keys the caller may press to take the callback offer.
CALLBACK_KEY = "1"
CALLBACK_ANSWER_SECONDS = 6.0
# How long Asterisk may take to confirm a conversation's recording (RecordingStarted).
RECORDING_START_SECONDS = 5.0
# After the talk bridge is deleted: how long its recording may take to report its end.
RECORDING_END_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class QueueDeps:
    acd: AcdService
    store: AcdStore
    prompts: PromptLibrary
    seat_endpoint: str  # e.g. PJSIP/{seat}
    dial_out: str  # e.g. PJSIP/{number}@dialout-trunk, for transfers and conferences
    destinations: Destinations  # where transfers and conferences may go
    # Conversations in progress, by call id: where call-control requests find them.
    conversations: dict[uuid.UUID, Conversation]
    app: str
    bridge_prefix: str
    clock: Callable[[], datetime]


class QueueCall:
    def __init__(
        self,
        port: AriCallPort,
        deps: QueueDeps,
        call: CallInfo,
        trace: Trace,
        queue: str,
        priority: int,
        skills: list[str],
        language: str,
        *,
        journal: CallJournal | None = None,
        resume: Journal | None = None,
        entry: Waiting | None = None,
    ) -> None:
        """``journal``: where the stay is noted on the channel for a restart;
        ``resume``: the stay a previous process left (waiting or talking), taken
        over with the caller's place (``entry``, already back in the ACD)."""
        self.port = port
        self.journal = journal
        self.resume = resume
        self.deps = deps
        self.call = call
        self.trace = trace
        self.language = language
        now = deps.clock()
        if resume is not None and resume.enqueued_at is not None:
            now = resume.enqueued_at  # the caller keeps the time already waited
        self.entry = entry or Waiting(
            call.call_id,
            call.caller,
            queue,
            priority,
            tuple(skills),
            language,
            now,
            asyncio.get_running_loop().create_future(),
        )
        self.stay = QueueStay(call.call_id, queue, priority, now)
        self.hold_bridge = f"{deps.bridge_prefix}hold-{uuid.uuid4().hex}"
        self.hold_bridge_asked = False  # from the create request on, it may exist
        if resume is not None:
            self.stay.attempts = resume.attempts
            if resume.hold_bridge:  # the caller is still in it, with its music
                self.hold_bridge, self.hold_bridge_asked = resume.hold_bridge, True
        self.talk_bridge: str | None = None
        self.ending = False  # see end_resumed_talk()

    @property
    def config(self) -> QueueConfig:
        # A reload may drop the queue while the caller waits: then its defaults.
        return self.deps.acd.queues.get(self.entry.queue) or QueueConfig()

    async def run(self) -> QueueResult:
        acd = self.deps.acd
        try:
            if self.resume is not None:
                return await self._resumed()
            if not acd.staffed(self.entry.queue):
                self.trace.step("queue_unstaffed", queue=self.entry.queue)
                return await self._overflowed()
            self.trace.step("queue_entered", queue=self.entry.queue, priority=self.entry.priority)
            await self._say(self.config.entry_prompts)
            self.hold_bridge_asked = True
            await self.port.ari.create_bridge(self.hold_bridge, "holding")
            await self.port.ari.add_channel(self.hold_bridge, self.port.channel_id)
            await self.port.ari.start_bridge_moh(self.hold_bridge)
            acd.enqueue(self.entry)
            await self._journal_waiting()
            return await self._wait()
        except (ChannelGone, AriNotFound):  # the caller hung up, at whatever await
            if self.stay.outcome == "abandoned":  # not after a conversation
                self.trace.step("queue_abandoned", queue=self.entry.queue, waited=self._waited())
                await asyncio.shield(self._abandoned())
            raise
        except asyncio.CancelledError:
            if self.stay.outcome == "abandoned":
                self.stay.outcome = "shutdown"
                await asyncio.shield(self.deps.store.stay_ended(self.stay))
            raise
        finally:
            # Whatever ended the stay: never leave the caller waiting in the ACD,
            # nor an agent reserved for them.
            acd.leave(self.entry)
            await asyncio.shield(self._clean_up())

    # After a restart -------------------------------------------------------------------
    async def _resumed(self) -> QueueResult:
        """Take over the stay a previous process left: talking, or waiting."""
        resume, acd = self.resume, self.deps.acd
        assert resume is not None
        if resume.stage == "talk":
            agent = acd.agents.get(resume.agent or "")
            self.trace.step("conversation_resumed", agent=resume.agent, bridge=resume.bridge)
            return await self._talk(agent, None, resumed=resume)  # its parties: the journal's
        self.trace.step("queue_resumed", queue=self.entry.queue, waited=self._waited())
        if not self.hold_bridge_asked:  # its holding bridge is gone: a new one
            self.hold_bridge_asked = True
            await self.port.ari.create_bridge(self.hold_bridge, "holding")
            await self.port.ari.add_channel(self.hold_bridge, self.port.channel_id)
            await self.port.ari.start_bridge_moh(self.hold_bridge)
        if self.entry not in acd.waiting() and not self.entry.offer.done():
            acd.enqueue(self.entry)
        await self._journal_waiting()
        return await self._wait()

    async def end_resumed_talk(self) -> None:
        """A talk taken over whose caller's task failed before it re-owned it (the
        caller hung up during the take-over's first request, Asterisk refused it,
        a shutdown): end it now as a conversation ends (legs hung up, bridge
        deleted, stay and recording written once, the agents through wrap-up)
        rather than leave it all to the next reconcile."""
        assert self.resume is not None and self.resume.stage == "talk"
        self.ending = True
        await self.run()

    async def _journal_waiting(self) -> None:
        if self.journal is not None:
            await self.journal.note(
                stage="queue",
                queue=self.entry.queue,
                priority=self.entry.priority,
                skills=self.entry.skills,
                language=self.language,
                enqueued_at=self.entry.enqueued_at,
                hold_bridge=self.hold_bridge,
                attempts=self.stay.attempts,
            )

    def _waited(self) -> float:
        return round((self.deps.clock() - self.stay.entered_at).total_seconds(), 1)

    async def _say(self, names: list[str], interruptible: bool = False) -> None:
        if names:
            media = [self.deps.prompts.media(n, self.language) for n in names]
            await self.port.play(media, self.language, interruptible=interruptible)

    # Waiting ----------------------------------------------------------------------
    async def _wait(self) -> QueueResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.max_wait_seconds
        announce_every = self.config.announce_every_seconds
        next_announce = loop.time() + announce_every if announce_every else None
        while True:
            wake = min(t for t in (deadline, next_announce) if t is not None)
            agent = await self._next_offer(max(0.0, wake - loop.time()))
            if agent is not None:
                result = await self._ring(agent)
                if result is not None:
                    return result
                continue
            now = loop.time()
            if now >= deadline:
                self.deps.acd.leave(self.entry)
                overflow = self.config.overflow
                if overflow.action == "queue" and overflow.queue:
                    self.trace.step("queue_overflow", queue=self.entry.queue, to=overflow.queue)
                    await self._record_stay("overflow")
                    self._move_to(overflow.queue)
                    await self._journal_waiting()
                    deadline = now + self.config.max_wait_seconds
                    continue
                if overflow.action == "callback":
                    if await self._offer_callback():
                        return QueueResult.CALLBACK
                    deadline = now + self.config.max_wait_seconds
                    self.deps.acd.enqueue(self._fresh_entry())
                    continue
                self.trace.step("queue_overflow", queue=self.entry.queue, to="voicemail")
                return await self._overflowed()
            if next_announce is not None and now >= next_announce:
                await self._announce()
                next_announce = loop.time() + announce_every

    async def _next_offer(self, timeout: float) -> Agent | None:
        """The agent the ACD reserved for us, or None after ``timeout``.

        Meanwhile the caller's own events are read: a hang-up raises ChannelGone.
        """
        offer = self.entry.offer
        while True:
            event_task = asyncio.create_task(self.port.next_event())
            waits: set[asyncio.Future[Any]] = {offer, event_task}
            done, _ = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if event_task in done:
                event = event_task.result()  # raises ChannelGone on hang-up
                if isinstance(event, ChannelDtmfReceived):
                    self.port.keys.append(event.digit)
                if offer not in done:
                    continue
            else:
                event_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await event_task
            if offer in done and not offer.cancelled():
                return offer.result()
            return None

    def _move_to(self, queue: str) -> None:
        """Overflow to another queue; the caller keeps the time already waited."""
        self.entry.queue = queue
        self.stay = QueueStay(self.call.call_id, queue, self.entry.priority, self.deps.clock())
        self.deps.acd.enqueue(self._fresh_entry())

    def _fresh_entry(self) -> Waiting:
        self.entry.offer = asyncio.get_running_loop().create_future()
        return self.entry

    async def _announce(self) -> None:
        position = self.deps.acd.position(self.entry)
        if position == 0:
            return
        minutes = max(1, round(self.deps.acd.estimated_wait_seconds(self.entry) / 60))
        lib, lang = self.deps.prompts, self.language
        self.trace.step("queue_announcement", position=position, minutes=minutes)
        names = [
            "queue_ahead",
            *lib.say_number(position - 1, lang),
            "queue_ahead_unit",
            "queue_wait",
            *lib.say_number(minutes, lang),
            "minutes",
        ]
        await self._say(names)

    async def _offer_callback(self) -> bool:
        await self._say(["callback_offer"], interruptible=True)  # "press 1" may come early
        key = await self.port.read_digits(1, CALLBACK_ANSWER_SECONDS, 1.0, None)
        if key != CALLBACK_KEY:
            self.trace.step("callback_declined", digit=key)
            return False
        self.trace.step("callback_requested", queue=self.entry.queue)
        await self._out_of_the_queue()
        await self._record_stay("callback")
        await self.deps.store.callback(
            self.call.call_id,
            self.call.caller,
            self.entry.queue,
            "requested",
            self.entry.enqueued_at,
        )
        await self._say(["callback_registered"])
        return True

    async def _overflowed(self) -> QueueResult:
        await self._out_of_the_queue()
        await self._record_stay("overflow")
        return QueueResult.OVERFLOW

    async def _out_of_the_queue(self) -> None:
        """The journal leaves the queue before the stay's row is written: a kill in
        between must not put the caller back in the queue (and write a second stay)."""
        if self.journal is not None and self.journal.current.stage != "ivr":
            await self.journal.note(stage="ivr")

    async def _abandoned(self) -> None:
        await self._record_stay("abandoned")
        await self.deps.store.callback(
            self.call.call_id,
            self.call.caller,
            self.entry.queue,
            "abandoned",
            self.entry.enqueued_at,
        )

    async def _record_stay(self, outcome: str) -> None:
        self.stay.outcome = outcome
        await self.deps.store.stay_ended(self.stay)

    # Ringing and talking ---------------------------------------------------------------
    async def _ring(self, agent: Agent) -> QueueResult | None:
        """Ring the agent's seat; the result when answered, None to keep waiting."""
        acd, ari = self.deps.acd, self.port.ari
        self.stay.attempts += 1
        seat = agent.config.seat
        self.trace.step("agent_ringing", agent=agent.id, seat=seat, attempt=self.stay.attempts)
        leg: legs.Leg | None = None
        try:
            leg = await legs.dial(
                ari,
                self.port.open_inbox,
                self.port.close_inbox,
                endpoint=self.deps.seat_endpoint.format(seat=seat),
                app=self.deps.app,
                purpose="agent",
                originator=self.port.channel_id,
                timeout=self.config.ring_timeout_seconds,
            )
            answered = await legs.until_answered(
                self.port.inbox, leg, self.config.ring_timeout_seconds + 5
            )
        except ChannelGone:
            self.trace.step("agent_ring_cancelled", agent=agent.id)
            acd.ring_cancelled(agent)
            if leg is not None:
                await asyncio.shield(legs.end(ari, leg, self.port.close_inbox))
            raise
        except AriError as exc:
            log.warning("ringing agent %s failed: %s", agent.id, exc)
            answered = False
        if not answered:
            reason = "rejected" if leg and leg.failure in ("BUSY", "REJECTED") else "no answer"
            self.trace.step(
                "agent_rejected" if reason == "rejected" else "agent_no_answer",
                agent=agent.id,
                status=leg.failure if leg else "unreachable",
            )
            if leg is not None:
                await legs.end(ari, leg, self.port.close_inbox)
            acd.not_answered(agent, self.entry, reason)
            return None
        assert leg is not None
        return await self._talk(agent, leg)

    async def _talk(
        self, agent: Agent | None, leg: legs.Leg | None, resumed: Journal | None = None
    ) -> QueueResult:
        """Talk in a recorded bridge; ``resumed``: the bridge, leg and recording a
        previous process left, taken over as they are (nothing created, nothing played)."""
        ari, acd = self.port.ari, self.deps.acd
        agent_id = agent.id if agent is not None else (resumed.agent if resumed else None)
        answered_at = self.deps.clock()
        if resumed is None:
            assert agent is not None
            acd.answered(agent, self.entry)
        elif resumed.answered_at is not None:
            answered_at = resumed.answered_at
        self.stay.agent_id = agent_id
        self.stay.answered_at = answered_at
        logs.set_agent(agent_id)  # the call's log lines name its agent from now on
        if resumed is None:
            self.trace.step("agent_answered", agent=agent_id, waited=self._waited())
        self.talk_bridge = (resumed and resumed.bridge) or (
            f"{self.deps.bridge_prefix}call-{uuid.uuid4().hex}"
        )
        bridge_inbox = self.port.open_inbox(f"bridge:{self.talk_bridge}")
        name = (resumed and resumed.recording) or (
            f"calls/{answered_at:%Y/%m/%d}/{self.call.call_id}-{self.stay.attempts}"
        )
        self.stay.row_id = row_id("stay", name)  # the same row after a restart
        caller_left = None
        if resumed is not None:  # whoever the killed process left in the bridge
            parties = resumed_parties(resumed, self.port.open_inbox)
        else:
            parties = [Party(leg, agent_id=agent_id)] if leg is not None else []
        conversation = Conversation(
            self.call.call_id,
            self.port.channel_id,
            self.port.inbox,
            self.talk_bridge,
            self.entry.queue,
            self._dialling(),
            self.trace,
            parties=parties,
            transferred_to=resumed.transferred_to if resumed is not None else None,
            on_hold=resumed is not None and resumed.on_hold,  # as the killed process left it
            journal=self.journal,  # transfers and three-way calls note who is in the bridge
        )
        try:
            if self.ending:  # nobody talks any more: only what the end of a talk does
                self.trace.step("conversation_not_resumed", agent=agent_id, bridge=self.talk_bridge)
                return QueueResult.ANSWERED
            if resumed is None:
                assert leg is not None
                await ari.create_bridge(self.talk_bridge, "mixing")
                with contextlib.suppress(AriError):
                    await ari.remove_channel(self.hold_bridge, self.port.channel_id)
                await ari.add_channel(self.talk_bridge, self.port.channel_id)
                await ari.add_channel(self.talk_bridge, leg.id)
                await ari.record_bridge(self.talk_bridge, name)
                await self._journal_talk(agent_id, leg.id, answered_at, name)
            else:
                await self._follow(conversation.parties)
                await conversation.check_parties()  # one may have left before we listened
            self.deps.conversations[self.call.call_id] = conversation  # commands wait in it
            if resumed is None:  # a taken-over recording started long ago
                await self._recording_started(bridge_inbox, name, conversation)
            caller_left = await conversation.wait()
        finally:
            self.deps.conversations.pop(self.call.call_id, None)
            self.stay.transferred_to = conversation.transferred_to
            self.stay.left_at = self.deps.clock()
            self.stay.talk_seconds = round((self.stay.left_at - answered_at).total_seconds(), 1)
            self.stay.outcome = "answered"
            self.stay.wrapup_seconds = float(self.config.wrapup_seconds)
            self.trace.step(
                "agent_call_ended",
                agent=agent_id,
                talk=self.stay.talk_seconds,
                ended_by="caller" if caller_left else "agent",
            )
            await asyncio.shield(self._after_talk(conversation, bridge_inbox, name))
        if caller_left is not None:
            self.port.gone = caller_left
        return QueueResult.ANSWERED

    async def _recording_started(
        self, bridge_inbox: Inbox, name: str, conversation: Conversation
    ) -> None:
        """Asterisk confirms the conversation's recording before the call counts on
        it; if it does not, the call goes on, and the log and timeline say so."""

        def ours(event: Event) -> bool:
            return (
                isinstance(event, RecordingStarted | RecordingFailed)
                and event.recording.name == name
            )

        try:
            event = await legs.confirmed(
                bridge_inbox, ours, RECORDING_START_SECONDS, caller=self.port.inbox
            )
        except TimeoutError:
            log.warning("call %s: recording %s not started", self.call.call_id, name)
            self.trace.step("recording_not_started", name=name, waited=RECORDING_START_SECONDS)
            return
        except ChannelGone as gone:  # the caller hung up meanwhile: wait() ends at once
            conversation.caller_gone = gone.event
            return
        if isinstance(event, RecordingFailed):
            log.warning(
                "call %s: recording %s failed: %s", self.call.call_id, name, event.recording.cause
            )
            self.trace.step("recording_failed", name=name, cause=event.recording.cause)

    async def _journal_talk(
        self, agent_id: str | None, leg_id: str, answered_at: datetime, name: str
    ) -> None:
        if self.journal is not None:
            await self.journal.note(
                stage="talk",
                queue=self.entry.queue,
                agent=agent_id,
                leg=leg_id,
                answered_at=answered_at,
                bridge=self.talk_bridge,
                recording=name,
                attempts=self.stay.attempts,
                hold_bridge=None,
                parties=None,  # the agent who answered alone (a new talk: no earlier transfer)
                transferred_to=None,
            )

    async def _follow(self, parties: list[Party]) -> None:
        """Make sure the events of a taken-over bridge and legs reach us (Asterisk
        normally keeps the application's subscriptions across a reconnection)."""
        sources = [f"bridge:{self.talk_bridge}"] + [f"channel:{p.leg.id}" for p in parties]
        for source in sources:
            with contextlib.suppress(AriError):
                await self.port.ari.subscribe(source)

    def _dialling(self) -> Dialling:
        return Dialling(
            ari=self.port.ari,
            open_inbox=self.port.open_inbox,
            close_inbox=self.port.close_inbox,
            app=self.deps.app,
            dial_out=self.deps.dial_out,
            seat_endpoint=self.deps.seat_endpoint,
            ring_timeout=self.config.ring_timeout_seconds,
            acd=self.deps.acd,
            destinations=self.deps.destinations,
        )

    async def _after_talk(self, conversation: Conversation, bridge_inbox: Inbox, name: str) -> None:
        ari = self.port.ari
        await conversation.close()
        for agent_id in dict.fromkeys(conversation.finished_agents):  # each wraps up once
            agent = self.deps.acd.agents.get(agent_id)
            if agent is not None:
                self.deps.acd.call_ended(agent, self.entry.queue, self.stay.talk_seconds or 0.0)
        if self.talk_bridge is not None:
            with contextlib.suppress(AriError):
                await ari.delete_bridge(self.talk_bridge)
        duration = None
        with contextlib.suppress(TimeoutError, AriError, ChannelGone):
            async with asyncio.timeout(RECORDING_END_SECONDS):
                while True:
                    event = await bridge_inbox.get()
                    if isinstance(event, RecordingFinished) and event.recording.name == name:
                        duration = event.recording.duration
                        break
        self.port.close_inbox(bridge_inbox)
        try:
            self.stay.recording_id, _ = await save_recording(
                self.deps.store.recorder,
                ari,
                call_id=self.call.call_id,
                kind="conversation",
                name=name,
                fmt="wav",
                started_at=self.stay.answered_at or datetime.now(UTC),
                duration_seconds=float(duration) if duration is not None else None,
                agent_id=self.stay.agent_id,  # who answered (later agents are in the trail)
                recording_id=row_id("recording", name),
            )
        except AriError as exc:
            log.error("conversation recording %s missing: %s", name, exc)
        await self.deps.store.stay_ended(self.stay)

    async def _clean_up(self) -> None:
        """Take the caller out of the holding bridge first, then delete it: a
        prompt started while the channel is still leaving a bridge can be lost."""
        if not self.hold_bridge_asked:  # never queued (unstaffed, or gone during the prompt)
            return
        ari = self.port.ari
        if self.port.gone is None:
            with contextlib.suppress(AriError):
                await ari.remove_channel(self.hold_bridge, self.port.channel_id)
        with contextlib.suppress(AriError):
            await ari.delete_bridge(self.hold_bridge)
