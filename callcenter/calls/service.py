"""Owns every live call: starts a session per StasisStart, reconciles after reconnects,
drains on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from callcenter.ari import AriError, EventRouter, Inbox
from callcenter.ari.events import Channel, Event, StasisStart, UnknownEvent
from callcenter.calls.legs import LEG_PREFIXES
from callcenter.calls.overload import Overload
from callcenter.calls.session import CALL_ID_VAR, CallDeps, CallSession

log = logging.getLogger(__name__)

# Bridges the service creates carry this prefix, so leftovers can be found.
BRIDGE_PREFIX = "hotline-"


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
        self._all_done = asyncio.Event()
        self._all_done.set()
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

    def _start(
        self,
        channel: Channel,
        arrived_at: datetime,
        call_id: uuid.UUID | None = None,
        args: tuple[str, ...] = (),
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
        channels = await self.deps.ari.list_channels()
        live = {c.id for c in channels}
        for channel_id, session in list(self._sessions.items()):
            if channel_id not in live:
                log.warning("call %s: channel vanished while disconnected", session.call_id)
                session.inbox.mark_lost()
        adopted = 0
        for channel in channels:
            if channel.id in self._tasks or not self._is_ours(channel):
                continue
            if channel.id.startswith(LEG_PREFIXES):  # its caller's task died with us
                with contextlib.suppress(AriError):
                    await self.deps.ari.hangup(channel.id)
                continue
            call_id = await self._call_id_of(channel.id)
            log.info("adopting channel %s left in Stasis (call %s)", channel.id, call_id)
            self._start(channel, datetime.now(UTC), call_id=call_id)
            adopted += 1
        closed = self.deps.recorder.close_lost(live, datetime.now(UTC))
        closed.add_done_callback(_log_closed)
        await self._delete_empty_bridges()
        try:  # last: a seat Asterisk refuses must not keep stale records open
            await self.sync_registrations()
        except AriError as exc:
            log.error("cannot follow the seats' registrations: %s", exc)
        log.info("reconciled: %d live channels, %d adopted", len(live), adopted)

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

    async def _call_id_of(self, channel_id: str) -> uuid.UUID | None:
        try:
            value = await self.deps.ari.get_variable(channel_id, CALL_ID_VAR)
            return uuid.UUID(value) if value else None
        except (AriError, ValueError):
            return None

    async def _delete_empty_bridges(self) -> None:
        for bridge in await self.deps.ari.list_bridges():
            if bridge.id.startswith(BRIDGE_PREFIX) and not bridge.channels:
                with contextlib.suppress(AriError):
                    await self.deps.ari.delete_bridge(bridge.id)

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
