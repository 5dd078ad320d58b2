"""Owns every live call: starts a session per StasisStart, reconciles after reconnects,
drains on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from datetime import UTC, datetime

from callcenter.acd.service import Waiting
from callcenter.ari import AriError, EventRouter, Inbox
from callcenter.ari.events import Channel, Event, StasisStart, UnknownEvent
from callcenter.calls import adoption
from callcenter.calls.adoption import Found, as_bridge, as_channel, is_leg
from callcenter.calls.journal import JOURNAL_VAR, Journal, call_id_of
from callcenter.calls.overload import REFUSED_VAR, Overload
from callcenter.calls.session import CallDeps, CallSession

log = logging.getLogger(__name__)

# Bridges the service creates carry this prefix, so leftovers can be found.
BRIDGE_PREFIX = "hotline-"
# Where versions before call ids were derived from channels wrote a call's id.
LEGACY_CALL_ID_VAR = "HOTLINE_CALL_ID"


class CallService:
    def __init__(
        self,
        deps: CallDeps,
        router: EventRouter,
        app: str,
        max_calls: int = 2000,
        overload: Overload | None = None,
    ) -> None:
        self.deps = deps
        # Past max_calls new calls are refused by it (busy prompt; see overload.py).
        self.overload = overload
        self.router = router
        self.app = app
        self.max_calls = max_calls
        self.draining = False
        self._sessions: dict[str, CallSession] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._strays: set[asyncio.Task[None]] = set()  # late legs being hung up
        self._all_done = asyncio.Event()
        self._all_done.set()
        self._settled = False  # agents' calls checked once after the start
        router.fallback = self.on_unrouted

    def active(self) -> int:
        return len(self._tasks)

    def sessions(self) -> list[CallSession]:
        """The calls being served now (the metrics read their stages)."""
        return list(self._sessions.values())

    def _refused(self, channel: Channel, arrived_at: datetime) -> bool:
        overload = self.overload
        return overload is not None and overload.take(channel, arrived_at, len(self._tasks))

    # Event entry point (called synchronously by the single reader) ---------------
    def on_unrouted(self, event: Event) -> None:
        if isinstance(event, StasisStart) and event.channel.id not in self._tasks:
            if event.replace_channel is not None:
                log.info("StasisStart replacing %s ignored", event.replace_channel.id)
                return
            if is_leg(event.channel.id):
                # A leg or snoop Asterisk confirmed only after its call gave up on
                # it: ours to end, never a new call.
                log.warning("%s entered Stasis after its call gave up on it", event.channel.id)
                self._hang_up_stray(event.channel.id)
                return
            if self.draining or not self._refused(event.channel, event.timestamp):
                self._start(event.channel, event.timestamp, args=event.args)
        elif isinstance(event, UnknownEvent) and event.type == "DeviceStateChanged":
            device = event.raw.get("device_state") or {}
            name = str(device.get("name", ""))
            if name.startswith("PJSIP/"):
                state = device.get("state", "")
                self.deps.queues.acd.seat_registered(
                    name.removeprefix("PJSIP/"), state not in ("UNAVAILABLE", "INVALID")
                )

    def _hang_up_stray(self, channel_id: str) -> None:
        async def hang_up() -> None:
            with contextlib.suppress(AriError):
                await self.deps.ari.hangup(channel_id)

        task = asyncio.create_task(hang_up(), name=f"stray-{channel_id}")
        self._strays.add(task)
        task.add_done_callback(self._strays.discard)

    def _start(
        self,
        channel: Channel,
        arrived_at: datetime,
        call_id: uuid.UUID | None = None,
        args: tuple[str, ...] = (),
        resume: Journal | None = None,
        waiting: Waiting | None = None,
    ) -> None:
        inbox = self.router.register(
            Inbox(f"channel:{channel.id}", maxsize=self.deps.config.inbox_size)
        )
        overflow = self.draining or len(self._tasks) >= self.max_calls
        session = CallSession(
            self.deps,
            channel,
            inbox,
            arrived_at=arrived_at,
            call_id=call_id,
            overflow=overflow,
            args=args,
            resume=resume,
            waiting=waiting,
        )
        task = asyncio.create_task(session.run(), name=f"call-{channel.id}")
        self._sessions[channel.id] = session
        self._tasks[channel.id] = task
        self._all_done.clear()
        task.add_done_callback(lambda t: self._finished(channel.id, inbox, t))

    def _finished(self, channel_id: str, inbox: Inbox, task: asyncio.Task[None]) -> None:
        self.router.unregister(inbox)
        self._sessions.pop(channel_id, None)
        self._tasks.pop(channel_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task for %s died", channel_id, exc_info=task.exception())
        if not self._tasks:
            self._all_done.set()

    # After every (re)connection: Asterisk replays nothing, so look. ----------------
    async def reconcile(self) -> None:
        """Compare what Asterisk has with what this process follows.

        Calls whose channel vanished meanwhile end as lost; callers a previous
        process left in Stasis are taken over at their stage (see
        :mod:`callcenter.calls.adoption`), legs nobody takes over are hung up and
        our empty bridges deleted; then agents and seats are brought in line.
        """
        ari = self.deps.ari
        channels = [as_channel(c) for c in await ari.list_channels()]
        bridges = [as_bridge(b) for b in await ari.list_bridges()]
        live = {c.id for c in channels}
        for channel_id, session in list(self._sessions.items()):
            if channel_id not in live:
                log.warning("call %s: channel vanished while disconnected", session.call_id)
                session.inbox.mark_lost()
        # Channels something of ours already follows: calls, their legs, and callers
        # being refused (overload), which have an inbox but no call task.
        owned = {key.removeprefix("channel:") for key in self.router.keys()}
        found = []
        for channel in channels:
            if channel.id in self._tasks or channel.id in owned:
                continue
            if not self._is_ours(channel) or is_leg(channel.id):
                continue
            call_id, journal = await self._journal_of(channel.id)
            if journal is None:  # in the IVR, not served yet, or being refused
                refused = await self._refused_call(channel.id)
                if refused is not None and self.overload is not None:
                    self.overload.take_over(channel, refused)  # hung up, its record closed
                    continue
                call_id = refused or call_id  # nobody refuses here: served, on that record
            found.append(Found(channel, call_id, journal))
        decided = adoption.plan(
            found, channels, bridges, owned=owned | set(self._tasks), bridge_prefix=BRIDGE_PREFIX
        )
        for leg in decided.hang_up:  # its caller's task died with us
            with contextlib.suppress(AriError):
                await ari.hangup(leg)
        for bridge in decided.delete:
            with contextlib.suppress(AriError):
                await ari.delete_bridge(bridge)
        self._resume_agents(decided)
        for item in decided.adopt:
            log.info(
                "taking over channel %s (call %s) at stage %s",
                item.channel.id,
                item.call_id,
                item.stage,
            )
            self._start(
                item.channel,
                datetime.now(UTC),
                call_id=item.call_id,
                resume=dataclasses.replace(item.journal, on_hold=item.on_hold),
                waiting=self._back_in_queue(item),
            )
        closed = self.deps.recorder.close_lost(live, datetime.now(UTC))
        closed.add_done_callback(_log_closed)
        try:  # last: a seat Asterisk refuses must not keep stale records open
            await self.sync_registrations()
        except AriError as exc:
            log.error("cannot follow the seats' registrations: %s", exc)
        log.info(
            "reconciled: %d live channels, taken over %s, %d legs hung up, %d bridges deleted",
            len(live),
            decided.stages() or "none",
            len(decided.hang_up),
            len(decided.delete),
        )

    def _resume_agents(self, decided: adoption.Plan) -> None:
        """Agents in a conversation taken over are on that call; after a start
        (not a mere reconnection) the others' calls are gone: they are freed."""
        acd = self.deps.queues.acd
        for agent_id, call_id in decided.on_call.items():
            acd.resume_call(agent_id, str(call_id) if call_id else None)
        if not self._settled:
            self._settled = True
            acd.settle_after_restart(set(decided.on_call))

    def _back_in_queue(self, item: adoption.Adoption) -> Waiting | None:
        """A waiting caller's place, back in the ACD now (in order), before its
        task has made a single round trip to Asterisk."""
        j = item.journal
        if item.stage != "queue" or j.queue is None or j.enqueued_at is None:
            return None
        entry = Waiting(
            item.call_id or uuid.uuid4(),
            item.channel.caller_number,
            j.queue,
            j.priority,
            j.skills,
            j.language,
            j.enqueued_at,
            asyncio.get_running_loop().create_future(),
        )
        self.deps.queues.acd.enqueue(entry)
        return entry

    async def sync_registrations(self) -> None:
        """Which seats have a registered softphone now; then follow their device states.

        (Device states, not ``endpoint:`` subscriptions: those would deliver every
        channel event of the seat a second time.)
        """
        acd = self.deps.queues.acd
        seats = {a.config.seat for a in acd.agents.values()}
        for seat in sorted(seats):
            await self.deps.ari.subscribe(f"deviceState:PJSIP/{seat}")
        for endpoint in await self.deps.ari.list_endpoints("PJSIP"):
            if endpoint.resource in seats:
                acd.seat_registered(endpoint.resource, endpoint.online)

    def _is_ours(self, channel: Channel) -> bool:
        return channel.app_name == "Stasis" and channel.app_data.split(",")[0] == self.app

    async def _journal_of(self, channel_id: str) -> tuple[uuid.UUID, Journal | None]:
        """The call's id and the journal a previous process left on the channel.
        The id is the channel's own (:func:`call_id_of`), unless a version that
        wrote it on the channel served the call: then that one, so an upgrade
        with callers on the line opens no second record."""
        call_id = call_id_of(channel_id)
        try:
            marked = await self.deps.ari.get_variable(channel_id, LEGACY_CALL_ID_VAR)
        except AriError:
            return call_id, None
        with contextlib.suppress(ValueError):
            call_id = uuid.UUID(marked) if marked else call_id
        try:
            journal = await self.deps.ari.get_variable(channel_id, JOURNAL_VAR)
        except AriError:
            return call_id, None
        return call_id, Journal.decode(journal)

    async def _refused_call(self, channel_id: str) -> uuid.UUID | None:
        """The record of a refusal (busy prompt) a previous process left on the
        channel: asked only of channels without a call id, never per call."""
        try:
            value = await self.deps.ari.get_variable(channel_id, REFUSED_VAR)
            return uuid.UUID(value) if value else None
        except (AriError, ValueError):
            return None

    # Shutdown ------------------------------------------------------------------
    async def drain(self, grace: float) -> None:
        """Let calls finish for ``grace`` seconds, then hang up the rest cleanly.

        New calls arriving meanwhile are handed back to the dialplan's fallback.
        """
        self.draining = True
        if self._tasks:
            log.info("draining %d calls (grace %.0f s)", len(self._tasks), grace)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._all_done.wait()
        while self._tasks:
            tasks = list(self._tasks.values())
            log.info("grace over: hanging up %d calls", len(tasks))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def _log_closed(closed: asyncio.Future[int]) -> None:
    if not closed.cancelled():
        log.info("stale call records closed: %d", closed.result())
