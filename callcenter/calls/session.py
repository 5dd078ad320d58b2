"""One call from StasisStart to its closed record.

The call answers and runs the IVR flow for the number dialled, on the flow
set in service when it arrived. Whatever happens (the caller hangs up at any
moment, Asterisk restarts, the service shuts down) the call's record is
closed exactly once with a disposition and the stage (flow/node) it reached.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callcenter import logs
from callcenter.acd.agents import AcdError, AgentState
from callcenter.acd.service import Waiting
from callcenter.ari import AriError, AriNotFound, AriPort, ChannelGone, EventRouter, Inbox
from callcenter.ari.causes import NORMAL_CLEARING, cause_text
from callcenter.ari.events import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Event,
    PlaybackEvent,
    StasisEnd,
)
from callcenter.calls.adoption import safe_node
from callcenter.calls.ari_port import AriCallPort, DialOut
from callcenter.calls.conversation import CUT_BY_ASTERISK
from callcenter.calls.journal import CallJournal, Journal, call_id_of
from callcenter.calls.metrics import CallMetrics
from callcenter.calls.queue_call import QueueCall, QueueDeps
from callcenter.calls.record_ops import AddEvent, CloseCall, MarkAnswered, OpenCall
from callcenter.calls.recorder import CallRecorder
from callcenter.calls.state import CallState, check_transition
from callcenter.config import CallsConfig
from callcenter.db.models import Disposition
from callcenter.ivr.interpreter import Interpreter, IvrServices, Outcome
from callcenter.ivr.port import CallInfo, IvrSink, QueueResult
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrRegistry, IvrRuntime
from callcenter.ivr.schema import QueueNode
from callcenter.ratelimit import Guard

log = logging.getLogger(__name__)

_DISPOSITIONS = {
    Outcome.TRANSFERRED: Disposition.TRANSFERRED,
    Outcome.ANSWERED: Disposition.ANSWERED,
    Outcome.CALLBACK: Disposition.CALLBACK,
}

# How long to wait for the channel to leave Stasis once we hung up or handed it back.
END_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class CallDeps:
    """Everything a call needs, passed as one typed object."""

    ari: AriPort
    recorder: CallRecorder
    config: CallsConfig
    metrics: CallMetrics
    router: EventRouter
    ivr: IvrRegistry
    prompts: PromptLibrary
    sink: IvrSink
    dial_out: DialOut
    queues: QueueDeps
    # The citizens' lookups, counted per caller and per code with the web's.
    lookup_guard: Guard
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class _CallTrace:
    """The interpreter's steps into the call's timeline; the node is the call's stage."""

    def __init__(self, session: CallSession) -> None:
        self.session = session

    def node(self, flow: str, node: str, node_type: str) -> None:
        self.session.stage = f"{flow}/{node}"
        self.session._event("ivr_node", flow=flow, node=node, type=node_type)

    def step(self, kind: str, **detail: Any) -> None:
        if kind == CUT_BY_ASTERISK:  # a party's leg ended by Asterisk, unannounced to us
            self.session.ended_by_asterisk = True
        self.session._event(kind, **detail)


class CallSession:
    def __init__(
        self,
        deps: CallDeps,
        channel: Channel,
        inbox: Inbox,
        *,
        arrived_at: datetime,
        call_id: uuid.UUID | None = None,
        overflow: bool = False,
        args: tuple[str, ...] = (),
        resume: Journal | None = None,
        waiting: Waiting | None = None,
    ) -> None:
        """``call_id``: the record to serve it on when not its channel's own (a
        refusal's, or one an older version marked); ``resume``: a call a previous
        process left (see :mod:`adoption`), taken over at its stage; ``waiting``:
        its place, already back in the ACD."""
        self.deps = deps
        self.channel = channel
        self.inbox = inbox
        self.call_id = call_id or call_id_of(channel.id)
        self.adopted = resume is not None
        self.started_at = channel.creationtime or arrived_at
        self.arrived_at = arrived_at
        self.overflow = overflow  # hand the call back to the dialplan instead of serving it
        # A feature code dialled from an agent's seat (Stasis(hotline,feature,login)).
        self.feature = args[1] if len(args) > 1 and args[0] == "feature" else None
        self.state = CallState.NEW if channel.state != "Up" else CallState.ANSWERED
        self.stage = "start"
        self.disposition: Disposition | None = None
        self.hangup_cause: int | None = None
        self.hangup_cause_text: str | None = None
        self.ended_at: datetime | None = None
        # Asterisk took our hangup or hand-back (or the channel was gone already).
        self.released = False
        self.resume = resume
        self.waiting = waiting
        self.ended_by_asterisk = False
        self.journal = CallJournal(deps.ari, channel.id, resume)
        self.resume_owned = False  # a queue call took over the stay ``resume`` left
        inbox.observer = self._observe

    # Timeline -------------------------------------------------------------------
    def _event(self, kind: str, at: datetime | None = None, **detail: Any) -> None:
        self.deps.recorder.submit(AddEvent(self.call_id, at or datetime.now(UTC), kind, detail))

    def _observe(self, event: Event) -> None:
        """Every event the call consumes: into the timeline, and into the record."""
        if isinstance(event, ChannelVarset):
            return  # our own bookkeeping echoed back: noise in a timeline
        self._event(event.type, event.timestamp, **_event_detail(event))
        if isinstance(event, ChannelStateChange) and event.channel.state == "Up":
            self.deps.recorder.submit(MarkAnswered(self.call_id, event.timestamp))
        elif isinstance(event, ChannelHangupRequest) and not event.soft:
            # The far end hung up; a plain BYE carries no cause: normal clearing.
            self.hangup_cause = event.cause or NORMAL_CLEARING
        elif isinstance(event, ChannelHangupRequest) and self.state is not CallState.HANGING_UP:
            # Not the caller and not us: Asterisk ended the channel (shutdown,
            # restart, an operator). Whatever the flow made of it, a failure.
            self.ended_by_asterisk = True
        elif isinstance(event, ChannelDestroyed):
            self.hangup_cause = event.cause
            self.hangup_cause_text = event.cause_txt or None
            self.ended_at = event.timestamp
        elif isinstance(event, StasisEnd) and self.ended_at is None:
            self.ended_at = event.timestamp

    def _move(self, state: CallState) -> None:
        self.state = check_transition(self.state, state)

    # Lifecycle ------------------------------------------------------------------
    async def run(self) -> None:
        logs.set_call(self.call_id, self.channel.id)  # every log line of this task names it
        self.deps.metrics.calls_started.inc()
        self.deps.metrics.calls_active.inc()
        try:
            await self._serve()
            await self._await_end()
        except asyncio.CancelledError:
            await asyncio.shield(self._shutdown())
            raise
        finally:
            if self.waiting is not None:  # taken over but never got back to its queue
                self.deps.queues.acd.leave(self.waiting)
            await asyncio.shield(self._end_untaken_talk())
            await asyncio.shield(self._end_untaken_transfer())
            await asyncio.shield(self._close_record())
            self.deps.metrics.calls_active.dec()

    async def _serve(self) -> None:
        """The flow, with every way it can end mapped to a disposition."""
        runtime = self.deps.ivr.current  # kept to the end: a reload never changes this call
        flow = runtime.flows.entry_for(self.channel.exten)
        if self.feature is not None:
            flow = "feature"
        try:
            self._open_record(flow, runtime.version)
            if self.resume is not None:
                await self._still_there()
            if self.overflow or flow is None:
                if flow is None:
                    self._event("no_flow", exten=self.channel.exten)
                await self._hand_back()
                return
            await self._answer()
            if self.feature is not None:
                await self._agent_feature(self.feature)
            else:
                outcome = await self._run_ivr(runtime, flow)
                self.disposition = _DISPOSITIONS.get(outcome, Disposition.COMPLETED)
                if self.ended_by_asterisk:  # e.g. a conversation cut by a restart
                    self.disposition = Disposition.LOST
            await self._hangup()
        except ChannelGone as gone:
            if gone.event is None or (
                isinstance(gone.event, ChannelHangupRequest) and gone.event.soft
            ):
                # Not the caller: Asterisk itself ended the channel (shutdown,
                # restart, an operator) or it vanished while we were disconnected.
                self._ended_early(lost=True)
            else:
                self._ended_early()
        except AriNotFound:
            self._ended_early()
        except AriError as exc:
            log.warning("call %s: ARI failed in stage %s: %s", self.call_id, self.stage, exc)
            self.disposition = self.disposition or Disposition.LOST
            await self._hangup_quietly()  # never leave a caller stranded in Stasis
        except Exception:
            log.exception("call %s failed in stage %s", self.call_id, self.stage)
            self.disposition = self.disposition or Disposition.FAILED
            self._event("error", stage=self.stage)
            await self._hangup_quietly()

    def _ended_early(self, lost: bool = False) -> None:
        """The call ended before the service was done: the caller left, or it was lost."""
        if self.disposition is None:
            self.disposition = Disposition.LOST if lost else Disposition.ABANDONED
        self._event("channel_lost" if lost else "caller_left", stage=self.stage)

    def _port(self) -> AriCallPort:
        """The caller's channel as the IVR (and the agent features) drive it."""
        deps = self.deps
        return AriCallPort(
            deps.ari,
            self.inbox,
            self.channel.id,
            self.channel.caller_number,
            deps.dial_out,
            open_inbox=lambda key: deps.router.register(Inbox(key, deps.config.inbox_size)),
            close_inbox=deps.router.unregister,
        )

    def _resume_at(self, runtime: IvrRuntime, flow: str) -> tuple[str, str] | None:
        """Where a taken-over call goes on: its queue node (waiting or talking),
        else the flow's first node after the welcome; None for a new call."""
        resume = self.resume
        if resume is None:
            return None
        flows = runtime.flows.flows
        if resume.stage in ("queue", "talk") and resume.flow and resume.flow in flows:
            node = flows[resume.flow].nodes.get(resume.node or "")
            if isinstance(node, QueueNode) and resume.node:
                return (resume.flow, resume.node)
        return (flow, safe_node(runtime.flows, flow))

    async def _run_ivr(self, runtime: IvrRuntime, flow: str) -> Outcome:
        deps = self.deps
        port = self._port()
        services = IvrServices(
            prompts=deps.prompts,
            calendar=runtime.calendar,
            lookup=runtime.lookup,
            sink=deps.sink,
            clock=deps.clock,
            guard=deps.lookup_guard,
        )
        call = CallInfo(self.call_id, self.channel.caller_number, self.channel.exten)
        trace = _CallTrace(self)
        port.journal, port.stage = self.journal, lambda: self.stage  # an IVR transfer notes it
        if self.resume is not None and self.resume.stage == "transfer":
            # A transfer node had connected the caller to a department: they go on
            # talking; the call ends as that transfer would have.
            if self.resume.flow and self.resume.node:
                self.stage = f"{self.resume.flow}/{self.resume.node}"
            self._event("resumed", stage="transfer", to=self.resume.transferred_to)
            self.resume_owned = True
            await port.resume_transfer(self.resume)
            return Outcome.TRANSFERRED

        resume_at = self._resume_at(runtime, flow)
        resume = self.resume
        if resume is not None and resume_at != (resume.flow, resume.node):
            resume = None  # resumed in the IVR: its queue node is gone (a reload)
            if self.waiting is not None:  # so no agent is held for it meanwhile
                self.deps.queues.acd.leave(self.waiting)
                self.waiting = None

        async def queue(name: str, priority: int, skills: list[str], language: str) -> QueueResult:
            nonlocal resume
            flow_name, _, node = self.stage.partition("/")
            self.journal.mark(flow=flow_name, node=node)
            entry = self.waiting if resume is not None else None
            queue_call = self._queue_call(port, name, priority, skills, language, resume, entry)
            resume, self.waiting = None, None  # the queue call owns the caller's place now
            self.resume_owned = True
            return await queue_call.run()  # an overflow has put the journal back in the IVR

        port.queue_handler = queue
        if resume is None and self.resume is not None and self.resume.stage == "talk":
            # Talking, but the flow that queued the caller no longer has that
            # node: the conversation still goes on; the call ends with it.
            resume = self.resume
            self._event("resumed", stage="talk")
            await queue(resume.queue or "", resume.priority, list(resume.skills), "zh")
            return Outcome.ANSWERED
        if resume_at is not None:
            self._event("resumed", flow=resume_at[0], node=resume_at[1], stage=self.resume_stage())
        interpreter = Interpreter(
            runtime.flows, flow, port, services, call, trace, resume_at=resume_at
        )
        return await interpreter.run()

    async def _end_untaken_transfer(self) -> None:
        """An IVR transfer taken over whose task ended before it re-owned it (the
        caller hung up during the take-over's first request): the department's
        leg is hung up and the bridge deleted now, not at the next reconcile."""
        resume = self.resume
        if resume is None or resume.stage != "transfer" or self.resume_owned:
            return
        self.resume_owned = True
        if self.stage == "start" and resume.flow and resume.node:
            self.stage = f"{resume.flow}/{resume.node}"
        if self.disposition is Disposition.ABANDONED:  # hung up while with the department
            self.disposition = Disposition.TRANSFERRED
        await self._port().drop_transfer(resume)

    async def _end_untaken_talk(self) -> None:
        """A conversation taken over whose task ended before a queue call re-owned
        it (the caller hung up during the take-over's first request): its legs,
        bridge, stay, recording and agents are ended now, not at the next reconcile."""
        resume = self.resume
        if resume is None or resume.stage != "talk" or self.resume_owned:
            return
        self.resume_owned = True
        if self.stage == "start" and resume.flow and resume.node:
            self.stage = f"{resume.flow}/{resume.node}"
        if self.disposition is Disposition.ABANDONED:  # hung up after talking to an agent
            self.disposition = Disposition.ANSWERED
        queue_call = self._queue_call(
            self._port(),
            resume.queue or "",
            resume.priority,
            list(resume.skills),
            resume.language or "zh",
            resume,
        )
        try:
            await queue_call.end_resumed_talk()
        except Exception:
            log.exception("call %s: ending the conversation taken over failed", self.call_id)

    def _queue_call(
        self,
        port: AriCallPort,
        name: str,
        priority: int,
        skills: list[str],
        language: str,
        resume: Journal | None,
        entry: Waiting | None = None,
    ) -> QueueCall:
        """The caller in queue ``name``; ``resume``: the stay a killed process left
        (``entry``: its place, already back in the ACD)."""
        call = CallInfo(self.call_id, self.channel.caller_number, self.channel.exten)
        return QueueCall(
            port,
            self.deps.queues,
            call,
            _CallTrace(self),
            name,
            priority,
            skills,
            language,
            journal=self.journal,
            resume=resume,
            entry=entry,
        )

    def resume_stage(self) -> str | None:
        return self.resume.stage if self.resume is not None else None

    async def _agent_feature(self, feature: str) -> None:
        """*21 log in, *22 log out, *23 pause / resume, from the agent's own seat."""
        acd = self.deps.queues.acd
        seat = self.channel.name.removeprefix("PJSIP/").rsplit("-", 1)[0]
        agent = acd.agent_at_seat(seat)
        self.stage = f"feature/{feature}"
        ok = False
        if agent is not None:
            wanted = {
                "login": AgentState.AVAILABLE,
                "logout": AgentState.LOGGED_OUT,
                "pause": AgentState.AVAILABLE
                if agent.state is AgentState.PAUSED
                else AgentState.PAUSED,
            }.get(feature)
            try:
                if wanted is not None:
                    acd.request_state(agent.id, wanted, "break" if feature == "pause" else None)
                    ok = True
            except AcdError as exc:
                self._event("feature_refused", reason=str(exc))
        self._event(
            "agent_feature", feature=feature, seat=seat, agent=agent.id if agent else None, ok=ok
        )
        prompt = "feature_ok" if ok else "feature_failed"
        await self._port().play([self.deps.prompts.media(prompt, "zh")], "zh", interruptible=False)
        self.disposition = Disposition.COMPLETED

    def _open_record(self, flow: str | None, flow_version: str) -> None:
        """The call's record, under the id its channel gives it: a kill at any
        moment leaves the next process opening the same record again (``ON
        CONFLICT DO NOTHING``), never a second one."""
        ch = self.channel
        self.deps.recorder.submit(
            OpenCall.of_channel(self.call_id, ch, self.started_at, flow, flow_version)
        )
        self._event(
            "adopted" if self.adopted else "StasisStart",
            self.arrived_at,
            channel=ch.name,
            caller=ch.caller_number,
            exten=ch.exten,
            state=ch.state,
        )
        if self.state is CallState.ANSWERED:
            self.deps.recorder.submit(MarkAnswered(self.call_id, self.started_at))

    async def _still_there(self) -> None:
        """A caller taken over may have hung up between the reconcile's listing and
        the opening of this call's inbox, and no event would tell: asked once
        (AriNotFound: the call ends as the caller's doing). A new call needs no
        such question: its inbox opens as its StasisStart is read."""
        await self.deps.ari.get_channel(self.channel.id)

    async def _answer(self) -> None:
        if self.state is CallState.NEW:
            await self.deps.ari.answer(self.channel.id)
            self._move(CallState.ANSWERED)

    async def _hangup(self) -> None:
        if self.state is not CallState.HANGING_UP:
            self._move(CallState.HANGING_UP)
        try:
            await self.deps.ari.hangup(self.channel.id, reason="normal")
            if self.hangup_cause is None:
                self.hangup_cause = NORMAL_CLEARING  # what our BYE carries
        except AriNotFound:
            pass  # the caller beat us to it
        self.released = True

    async def _hangup_quietly(self) -> None:
        """Hang up unless Asterisk already took a hangup or hand-back: one it refused
        (409, 500, unreachable) is asked again, so no caller is left in silence."""
        if self.released or self.state is CallState.ENDED:
            return
        try:
            await self._hangup()
        except AriError as exc:
            log.warning("call %s: hangup failed: %s", self.call_id, exc)

    async def _hand_back(self) -> None:
        """Send the call to the dialplan's fallback (apology / overflow)."""
        self.stage = "overflow"
        self.disposition = Disposition.OVERFLOW
        self._move(CallState.HANGING_UP)
        self._event("overflow", context=self.deps.config.fallback_context)
        await self.deps.ari.continue_in_dialplan(
            self.channel.id, context=self.deps.config.fallback_context, extension="s", priority=1
        )
        self.released = True

    async def _await_end(self) -> None:
        """Consume the channel's last events, up to StasisEnd, for end time and cause.

        Once the channel leaves Stasis the application is unsubscribed from it,
        so StasisEnd is the last event a call can count on.
        """
        try:
            async with asyncio.timeout(END_WAIT_SECONDS):
                while self.inbox.ended is None:
                    await self.inbox.get()
        except (TimeoutError, ChannelGone):
            pass
        except AriError as exc:
            log.warning("call %s: %s while waiting for its end", self.call_id, exc)

    async def _shutdown(self) -> None:
        """Grace period over: hang up cleanly so the record can close."""
        if self.disposition is None:
            self.disposition = Disposition.SHUTDOWN
            self._event("shutdown_hangup", stage=self.stage)
        await self._hangup_quietly()
        await self._await_end()

    async def _close_record(self) -> None:
        if self.state is not CallState.ENDED:
            self._move(CallState.ENDED)
        disposition = self.disposition or Disposition.FAILED
        ended_at = self.ended_at or datetime.now(UTC)
        await self.deps.recorder.close_call(
            CloseCall(
                call_id=self.call_id,
                ended_at=ended_at,
                disposition=disposition,
                hangup_cause=self.hangup_cause,
                hangup_cause_text=self.hangup_cause_text or cause_text(self.hangup_cause),
                last_stage=self.stage,
            )
        )
        self.deps.metrics.calls_ended.labels(disposition.value).inc()
        self.deps.metrics.call_duration.observe(
            max(0.0, (ended_at - self.started_at).total_seconds())
        )


def _event_detail(event: Event) -> dict[str, Any]:
    """The part of an event worth keeping in the timeline."""
    if isinstance(event, ChannelDtmfReceived):
        return {"digit": event.digit, "duration_ms": event.duration_ms}
    if isinstance(event, ChannelHangupRequest):
        return {"cause": event.cause, "soft": event.soft}
    if isinstance(event, ChannelDestroyed):
        return {"cause": event.cause, "cause_txt": event.cause_txt}
    if isinstance(event, ChannelStateChange):
        return {"state": event.channel.state}
    if isinstance(event, PlaybackEvent):
        return {
            "playback": event.playback.id,
            "media": event.playback.media_uri,
            "state": event.playback.state,
        }
    return {}
