"""The IVR's CallPort on a live ARI channel.

Reads only the call's own inbox (one task per call), keeps keys pressed ahead
of time, stops interruptible prompts on a key, and turns every way the
channel can go away into ChannelGone so the interpreter stops where it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callcenter.ari import AriError, AriNotFound, AriPort, ChannelGone, Inbox
from callcenter.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
)
from callcenter.calls import legs
from callcenter.calls.destinations import Destinations
from callcenter.calls.journal import CallJournal, Journal, PartyNote
from callcenter.directory import DestinationRefused
from callcenter.ivr.port import QueueResult, RecordedMessage, TransferResult

QueueHandler = Callable[[str, int, list[str], str], Awaitable[QueueResult]]

log = logging.getLogger(__name__)

# A playback Asterisk accepted should start at once; past this it never will.
PLAYBACK_START_SECONDS = 5.0
# After a hang-up, how long Asterisk may take to finish writing a recording.
RECORDING_SETTLE_SECONDS = 5.0
# A recording ended by neither key nor limit: how long to wait for the hang-up.
HANGUP_AFTER_RECORDING_SECONDS = 1.0
# Past a message's limit, how long Asterisk may take to report the recording's end.
RECORDING_END_SLACK_SECONDS = 30.0
# Past a transfer's ring time (Dial's own timeout), how long to wait for the leg's verdict.
TRANSFER_ANSWER_SLACK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class DialOut:
    """How transfers leave: a PJSIP endpoint template such as PJSIP/{number}@dialout-trunk,
    for destinations of the directory only."""

    endpoint: str
    app: str
    destinations: Destinations
    bridge_prefix: str = "hotline-"


class AriCallPort:
    def __init__(
        self,
        ari: AriPort,
        inbox: Inbox,
        channel_id: str,
        caller_id: str,
        dial_out: DialOut,
        open_inbox: Callable[[str], Inbox],
        close_inbox: Callable[[Inbox], None],
    ) -> None:
        self.ari = ari
        self.inbox = inbox
        self.channel_id = channel_id
        self.caller_id = caller_id
        self.dial_out = dial_out
        self.open_inbox = open_inbox
        self.close_inbox = close_inbox
        self.keys: deque[str] = deque()
        # Set by the call session: runs a QueueCall (callcenter.calls.queue_call).
        self.queue_handler: QueueHandler | None = None
        # Set by the call session: where a connected IVR transfer is noted for a
        # restart, and the flow/node the call is at.
        self.journal: CallJournal | None = None
        self.stage: Callable[[], str] = lambda: ""
        self.gone: Event | None = None

    async def _next(self, inbox: Inbox | None = None, timeout: float | None = None) -> Event:
        inbox = inbox or self.inbox
        event = await inbox.get(timeout)
        if inbox is self.inbox and isinstance(event, legs.TERMINAL):
            self.gone = event
            raise ChannelGone(event)
        return event

    async def next_event(self, timeout: float | None = None) -> Event:
        """The caller's next event; ChannelGone when the caller hangs up or leaves."""
        return await self._next(timeout=timeout)

    async def queue(
        self, queue: str, priority: int, skills: list[str], language: str
    ) -> QueueResult:
        self._check_gone()
        if self.queue_handler is None:
            raise RuntimeError("no ACD attached to this call")
        return await self.queue_handler(queue, priority, skills, language)

    def _check_gone(self) -> None:
        if self.gone is not None:
            raise ChannelGone(self.gone)

    # Prompts and keys -------------------------------------------------------------
    async def play(self, media: list[str], lang: str, interruptible: bool) -> None:
        self._check_gone()
        if interruptible and self.keys:
            return  # the caller already answered what this prompt would ask
        playback_id = f"pb-{uuid.uuid4().hex}"
        await self.ari.play(self.channel_id, playback_id, media, lang=lang)
        stopping = started = False
        loop = asyncio.get_running_loop()
        start_by = loop.time() + PLAYBACK_START_SECONDS
        while True:
            try:
                event = await self._next(timeout=None if started else start_by - loop.time())
            except TimeoutError:
                # Asterisk accepted the playback but never ran it (seen when the
                # channel was just leaving a bridge): carry on rather than hang.
                log.warning("playback %s of %s never started", playback_id, media)
                with contextlib.suppress(AriError):
                    await self.ari.stop_playback(playback_id)
                return
            if isinstance(event, PlaybackStarted) and event.playback.id == playback_id:
                started = True
            if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
                return
            if isinstance(event, ChannelDtmfReceived) and interruptible:
                self.keys.append(event.digit)
                if not stopping:
                    stopping = True
                    try:
                        await self.ari.stop_playback(playback_id)
                    except AriNotFound:
                        pass  # it has just ended
                    except AriError as exc:  # it plays to its end; the key is kept
                        log.warning("playback %s not stopped: %s", playback_id, exc)

    async def read_digits(
        self, max_digits: int, first_timeout: float, inter_timeout: float, terminator: str | None
    ) -> str:
        self._check_gone()
        loop = asyncio.get_running_loop()
        got = ""
        deadline = loop.time() + first_timeout
        while len(got) < max_digits:
            if self.keys:
                key = self.keys.popleft()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    event = await self._next(timeout=remaining)
                except TimeoutError:
                    break
                if not isinstance(event, ChannelDtmfReceived):
                    continue
                key = event.digit
            if terminator is not None and key == terminator:
                break
            got += key
            deadline = loop.time() + inter_timeout
        return got

    # Voicemail --------------------------------------------------------------------
    async def record(
        self, name: str, max_seconds: int, beep: bool, terminator: str | None
    ) -> RecordedMessage | None:
        self._check_gone()
        self.keys.clear()  # keys pressed before the beep are not the message's end
        await self.ari.record(
            self.channel_id,
            name,
            max_seconds=max_seconds,
            beep=beep,
            terminate_on=terminator or "none",
            if_exists="overwrite",
        )
        hung_up = by_key = False
        finished: RecordingFinished | None = None
        try:
            async with asyncio.timeout(max_seconds + RECORDING_END_SLACK_SECONDS):
                while finished is None:
                    try:
                        event = await self._next(
                            timeout=RECORDING_SETTLE_SECONDS if hung_up else None
                        )
                    except ChannelGone as gone:
                        hung_up = True
                        if isinstance(gone.event, StasisEnd | ChannelDestroyed):
                            break
                        continue
                    if isinstance(event, ChannelDtmfReceived) and event.digit == terminator:
                        by_key = True
                    elif isinstance(event, RecordingFinished) and event.recording.name == name:
                        finished = event
                    elif isinstance(event, RecordingFailed) and event.recording.name == name:
                        log.warning("recording %s failed: %s", name, event.recording.cause)
                        return None
        except TimeoutError:
            log.warning("recording %s: no RecordingFinished", name)
        duration = finished.recording.duration if finished else None
        by_limit = duration is not None and duration >= max_seconds - 1
        if finished is not None and not (hung_up or by_key or by_limit):
            # Neither the key nor the limit ended it: the caller hanging up did,
            # and Asterisk reports that just after the recording.
            hung_up = await self._hangs_up_within(HANGUP_AFTER_RECORDING_SECONDS)
        if finished is None:
            try:  # the file may be complete even though its event never reached us
                await self.ari.stored_recording(name)
            except AriError:
                return None
        if duration == 0:
            with contextlib.suppress(AriError):
                await self.ari.delete_stored_recording(name)
            if hung_up:  # gone before saying anything: the call ends here
                raise ChannelGone(self.gone)
            return None
        return RecordedMessage(
            name=name,
            format="wav",
            duration_seconds=float(duration) if duration is not None else None,
            caller_hung_up=hung_up,
        )

    async def _hangs_up_within(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    event = await self._next()
                    if isinstance(event, ChannelDtmfReceived):
                        self.keys.append(event.digit)
        except ChannelGone:
            return True
        except TimeoutError:
            return False

    # Transfer ---------------------------------------------------------------------
    async def transfer(self, number: str, timeout: int) -> TransferResult:
        """Dial ``number`` (a department of the directory) on the trunk, bridge it with
        the caller, end when either leaves."""
        self._check_gone()
        try:
            destination = self.dial_out.destinations.resolve(
                number, path="ivr", who=f"the IVR (channel {self.channel_id})"
            )
        except DestinationRefused:  # logged and counted there
            return TransferResult.FAILED
        if destination.number is None:  # the IVR reaches seats through queues only
            return TransferResult.FAILED
        number = destination.number
        bridge_id = f"{self.dial_out.bridge_prefix}{uuid.uuid4().hex}"
        leg: legs.Leg | None = None
        try:
            await self.ari.create_bridge(bridge_id, "mixing")
            await self.ari.start_moh(self.channel_id)  # while the department rings
            leg = await legs.dial(
                self.ari,
                self.open_inbox,
                self.close_inbox,
                endpoint=self.dial_out.endpoint.format(number=number),
                app=self.dial_out.app,
                purpose="transfer",
                originator=self.channel_id,
                timeout=timeout,
            )
            limit = timeout + TRANSFER_ANSWER_SLACK_SECONDS
            if not await legs.until_answered(self.inbox, leg, limit):
                return TransferResult.NO_ANSWER
            with contextlib.suppress(AriError):
                await self.ari.stop_moh(self.channel_id)
            await self.ari.add_channel(bridge_id, self.channel_id)
            await self.ari.add_channel(bridge_id, leg.id)
            await self._journal_connected(bridge_id, leg, number)
            self.gone = await legs.until_either_leaves(self.inbox, leg)
            return TransferResult.CONNECTED
        except ChannelGone as gone:
            self.gone = gone.event
            raise
        except AriError as exc:
            log.warning("transfer to %s failed: %s", number, exc)
            return TransferResult.FAILED
        finally:
            await asyncio.shield(self._end_transfer(bridge_id, leg))

    async def _journal_connected(self, bridge_id: str, leg: legs.Leg, number: str) -> None:
        """Note the caller is with the department: a restarted service keeps them
        together instead of hanging the department up and replaying the menu."""
        if self.journal is not None:
            flow, _, node = self.stage().partition("/")
            await self.journal.note(
                stage="transfer",
                flow=flow or None,
                node=node or None,
                bridge=bridge_id,
                parties=(PartyNote(leg.id, number=number),),
                transferred_to=number,
            )

    async def resume_transfer(self, journal: Journal) -> TransferResult:
        """Take over a caller a previous process's transfer node had connected
        to a department: the same bridge and leg, until either leaves, then the
        transfer ends as one never interrupted does (the department's leg hung
        up, the bridge deleted). Nobody left to talk to: it ends at once."""
        bridge_id = journal.bridge or ""
        leg = self._department_leg(journal) if bridge_id else None
        try:
            self._check_gone()  # the caller gone already: the department's line ends too
            if leg is not None:
                leg_id = leg.id
                for source in (f"bridge:{bridge_id}", f"channel:{leg_id}"):
                    with contextlib.suppress(AriError):  # normally kept across a reconnection
                        await self.ari.subscribe(source)
                try:  # it may have hung up before its inbox was open: no event would tell
                    await self.ari.get_channel(leg_id)
                except AriNotFound:
                    return TransferResult.CONNECTED
                except AriError:  # Asterisk busy: its events will tell, never cut the talk
                    pass
                self.gone = await legs.until_either_leaves(self.inbox, leg)
            return TransferResult.CONNECTED
        finally:
            await asyncio.shield(self._end_transfer(bridge_id, leg))

    async def drop_transfer(self, journal: Journal) -> None:
        """A taken-over IVR transfer whose caller is gone before it was resumed:
        the department's leg hung up, the bridge deleted."""
        await self._end_transfer(journal.bridge or "", self._department_leg(journal))

    def _department_leg(self, journal: Journal) -> legs.Leg | None:
        """The leg of the department a journalled IVR transfer connected, followed."""
        department = journal.talkers()[:1]
        if not department:
            return None
        leg_id = department[0].leg
        return legs.Leg(leg_id, self.open_inbox(f"channel:{leg_id}"), created=True)

    async def _end_transfer(self, bridge_id: str, leg: legs.Leg | None) -> None:
        if leg is not None:
            await legs.end(self.ari, leg, self.close_inbox)
        if bridge_id:
            with contextlib.suppress(AriError):
                await self.ari.delete_bridge(bridge_id)
