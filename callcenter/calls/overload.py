"""Calls past the service's cap: turned away politely, counted, logged, never silently.

``calls.max_calls`` calls are served at once. The next caller is answered,
hears ``calls.busy_prompt`` ("all lines are busy, please call again later")
and is hung up: a few ARI requests and the call's record, no IVR, no other
database work. At most ``calls.overload_prompt_slots`` callers hear it at
once; past that, or while the event loop runs ``calls.overload_lag_seconds``
late (the service is far behind: answering would only make it later), a new
call is refused unanswered at once (hang-up cause 34, SIP 503): one ARI
request. Every refusal counts in ``hotline_overload_refused_total{how}``;
the log gets one line a second at most, with the counts, whatever the rate.

Asterisk's file-handle limit is sized for exactly this bound (served calls
plus prompt slots; see :func:`callcenter.asteriskconf.max_files`). When the
service is down or its ``Stasis()`` fails, the dialplan's own apology
(``STASISSTATUS=FAILED``) still answers; a draining service hands calls back
to it as before.

A caller hearing the busy prompt carries its record's id on its channel
(``HOTLINE_REFUSED``, set before the record is opened: one request, on this
path only). If the service dies meanwhile, the next process finds it there
and finishes the refusal (hang-up, the same record closed once as overflow)
instead of serving it under a second record past the cap. A call refused
unanswered has no such mark: its record is opened only once the hang-up was
asked, so a kill before that leaves no record but the next process's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from callcenter import logs
from callcenter.ari import AriError, EventRouter, Inbox
from callcenter.ari.causes import NORMAL_CLEARING, cause_text
from callcenter.ari.events import (
    Channel,
    ChannelDestroyed,
    ChannelHangupRequest,
    PlaybackFinished,
    StasisEnd,
)
from callcenter.calls.journal import call_id_of
from callcenter.calls.metrics import CallMetrics
from callcenter.calls.record_ops import AddEvent, CloseCall, MarkAnswered, OpenCall
from callcenter.calls.recorder import CallRecorder
from callcenter.config import CallsConfig
from callcenter.db.models import Disposition
from callcenter.errors import ConfigError
from callcenter.ivr.prompts import PromptLibrary, prompt_exists
from callcenter.timers import Cancellable, LoopTimers, Timers

log = logging.getLogger(__name__)

# The busy prompt is a few seconds; past this the caller is hung up anyway.
PROMPT_MAX_SECONDS = 20.0
# After our hang-up, how long to wait for the channel's last events.
END_WAIT_SECONDS = 5.0
# At most one log line per this many seconds, with the counts.
LOG_EVERY_SECONDS = 1.0
# Cause 34 (no circuit available): Asterisk answers the INVITE with 503.
CONGESTION = "congestion"
STAGE = "overload"
# On a channel hearing the busy prompt: the id of its record (see the module's doc).
REFUSED_VAR = "HOTLINE_REFUSED"


class Verdict(enum.Enum):
    SERVE = "serve"
    BUSY_PROMPT = "busy_prompt"  # answered, the busy prompt, hung up
    REJECTED = "rejected"  # refused unanswered (SIP 503)


class _Ari(Protocol):
    """The few ARI requests a refusal makes (AriClient and AriPort both fit)."""

    async def answer(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...

    async def play(
        self, channel_id: str, playback_id: str, media: str | list[str], lang: str | None = None
    ) -> object: ...


class Overload:
    """Decides for each new call whether it is served, and refuses the others."""

    def __init__(
        self,
        ari: _Ari,
        router: EventRouter,
        recorder: CallRecorder,
        config: CallsConfig,
        metrics: CallMetrics,
        prompts: PromptLibrary,
        lag: Callable[[], float] = lambda: 0.0,
        timers: Timers | None = None,
    ) -> None:
        """Raises ConfigError when ``calls.busy_prompt`` names no prompt."""
        if not prompt_exists(prompts.prompts_dir, "zh", config.busy_prompt):
            raise ConfigError(
                f"calls.busy_prompt: no prompt {config.busy_prompt!r} in "
                f"{prompts.prompts_dir / 'zh'} (a NAME.txt there, audio by `make prompts`)"
            )
        self.ari = ari
        self.router = router
        self.recorder = recorder
        self.config = config
        self.metrics = metrics
        self.prompts = prompts
        self.lag = lag  # how late the event loop runs now, in seconds
        self.timers = timers or LoopTimers()
        self._refusing: dict[str, asyncio.Task[None]] = {}
        self._counts: dict[Verdict, int] = {}
        self._report: Cancellable | None = None
        self._last_serving = 0

    def refusing(self) -> int:
        """Refused callers still hearing the busy prompt (or being hung up)."""
        return len(self._refusing)

    def verdict(self, serving: int) -> Verdict:
        if self.lag() >= self.config.overload_lag_seconds:
            return Verdict.REJECTED
        if serving < self.config.max_calls:
            return Verdict.SERVE
        if len(self._refusing) < self.config.overload_prompt_slots:
            return Verdict.BUSY_PROMPT
        return Verdict.REJECTED

    def take(self, channel: Channel, arrived_at: datetime, serving: int) -> bool:
        """True when this call is not to be served (it is being refused, or already
        was): the refusal runs in a task of its own; False: serve it."""
        if channel.id in self._refusing:
            return True  # seen again (a reconnect's re-listing): one owner only
        verdict = self.verdict(serving)
        if verdict is Verdict.SERVE:
            return False
        self.metrics.calls_started.inc()
        self.metrics.overload_refused.labels(verdict.value).inc()
        self._count(verdict, serving)
        self._refuse(channel, arrived_at, verdict, None)
        return True

    def take_over(self, channel: Channel, call_id: uuid.UUID) -> None:
        """A caller a killed process was refusing (the mark on its channel): hung
        up here and its record (``call_id``) closed once, never served past the cap
        under a second record. Counted already by the process that refused it."""
        if channel.id not in self._refusing:
            self._refuse(channel, datetime.now(UTC), Verdict.BUSY_PROMPT, call_id)

    def _refuse(
        self, channel: Channel, arrived_at: datetime, verdict: Verdict, taken: uuid.UUID | None
    ) -> None:
        inbox = self.router.register(Inbox(f"channel:{channel.id}", self.config.inbox_size))
        refusal = _Refusal(self, channel, inbox, arrived_at, verdict, taken)
        task = asyncio.create_task(refusal.run(), name=f"refuse-{channel.id}")
        self._refusing[channel.id] = task
        task.add_done_callback(lambda t: self._finished(channel.id, inbox, t))

    def _finished(self, channel_id: str, inbox: Inbox, task: asyncio.Task[None]) -> None:
        self.router.unregister(inbox)
        self._refusing.pop(channel_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("refusing %s failed", channel_id, exc_info=task.exception())

    # One line a second at most -----------------------------------------------
    def _count(self, verdict: Verdict, serving: int) -> None:
        self._counts[verdict] = self._counts.get(verdict, 0) + 1
        self._last_serving = serving
        if self._report is None:
            self._report = self.timers.call_later(LOG_EVERY_SECONDS, self._log_counts)

    def _log_counts(self) -> None:
        self._report = None
        counts, self._counts = self._counts, {}
        busy = counts.get(Verdict.BUSY_PROMPT, 0)
        rejected = counts.get(Verdict.REJECTED, 0)
        log.warning(
            "overload: %d calls refused in the last %.0f s (%d heard the busy prompt, "
            "%d refused unanswered); serving %d of max_calls %d, event loop %.2f s late",
            busy + rejected,
            LOG_EVERY_SECONDS,
            busy,
            rejected,
            self._last_serving,
            self.config.max_calls,
            self.lag(),
        )

    async def settled(self) -> None:
        """Wait until the refusals in progress now have ended."""
        await asyncio.gather(*self._refusing.values(), return_exceptions=True)

    async def stop(self) -> None:
        """Shutdown: finish (or cut short) the refusals in progress, flush the count line."""
        tasks = list(self._refusing.values())
        if tasks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(END_WAIT_SECONDS):
                    await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._report is not None:
            self._report.cancel()
            self._log_counts()


class _Refusal:
    """One refused call: its record, the busy prompt (or none), the hang-up."""

    def __init__(
        self,
        overload: Overload,
        channel: Channel,
        inbox: Inbox,
        arrived_at: datetime,
        verdict: Verdict,
        taken: uuid.UUID | None = None,
    ) -> None:
        """``taken``: the record of a refusal a killed process began (see take_over)."""
        self.o = overload
        self.channel = channel
        self.inbox = inbox
        self.arrived_at = arrived_at
        self.verdict = verdict
        self.taken_over = taken is not None
        self.call_id = taken or call_id_of(channel.id)
        self.opened = False
        self.cause: int | None = None
        self.cause_text: str | None = None
        self.ended_at: datetime | None = None
        self.heard = False

    def _event(self, kind: str, **detail: object) -> None:
        self.o.recorder.submit(AddEvent(self.call_id, datetime.now(UTC), kind, detail))

    async def run(self) -> None:
        logs.set_call(self.call_id, self.channel.id)
        ch, o = self.channel, self.o
        prompt = o.config.busy_prompt if self.verdict is Verdict.BUSY_PROMPT else None
        try:
            try:
                if self.taken_over:  # its prompt was cut by the kill: only the hang-up is left
                    self._open("overload_taken_over")  # again: its first may never have landed
                elif prompt is not None:
                    with contextlib.suppress(AriError):  # gone: the prompt's answer says so
                        await o.ari.set_variable(ch.id, REFUSED_VAR, str(self.call_id))
                    self._open("overload_refused", how=self.verdict.value, prompt=prompt)
                    await self._busy_prompt(prompt)
                if not self._ended():
                    await o.ari.hangup(ch.id, reason="normal" if prompt else CONGESTION)
            except AriError as exc:  # the caller left first (404), or Asterisk is busy
                log.debug("refused call %s: %s", ch.id, exc)  # never a line per call
            if not self.opened:  # refused unanswered: recorded once the hang-up was asked
                self._open("overload_refused", how=self.verdict.value, prompt=None)
            with contextlib.suppress(AriError):
                await self._until_end(END_WAIT_SECONDS)
        finally:
            if not self.opened:  # cut short by a shutdown: still its record
                self._open("overload_refused", how=self.verdict.value, prompt=prompt)
            await asyncio.shield(self._close())

    def _open(self, kind: str, **detail: object) -> None:
        """The call's record (``ON CONFLICT DO NOTHING``: opened twice, it is one)."""
        ch = self.channel
        self.o.recorder.submit(
            OpenCall.of_channel(self.call_id, ch, ch.creationtime or self.arrived_at)
        )
        self.opened = True
        self._event(kind, **detail)

    async def _busy_prompt(self, prompt: str) -> None:
        o, channel_id = self.o, self.channel.id
        if self.channel.state != "Up":
            await o.ari.answer(channel_id)
            o.recorder.submit(MarkAnswered(self.call_id, datetime.now(UTC)))
        playback_id = f"pb-{uuid.uuid4().hex}"
        await o.ari.play(channel_id, playback_id, o.prompts.media(prompt, "zh"), lang="zh")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PROMPT_MAX_SECONDS):
                while not self._ended():
                    event = await self.inbox.get()
                    self._note(event)
                    if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
                        self.heard = True
                        self._event("busy_prompt_played", prompt=prompt)
                        return

    async def _until_end(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self.ended_at is None:
                    self._note(await self.inbox.get())

    def _ended(self) -> bool:
        return self.ended_at is not None or self.cause is not None

    def _note(self, event: object) -> None:
        if isinstance(event, ChannelHangupRequest) and not event.soft and self.cause is None:
            self.cause = event.cause or NORMAL_CLEARING
        elif isinstance(event, ChannelDestroyed):
            self.cause = event.cause
            self.cause_text = event.cause_txt or None
            self.ended_at = event.timestamp
        elif isinstance(event, StasisEnd) and self.ended_at is None:
            self.ended_at = event.timestamp

    async def _close(self) -> None:
        stage = f"{STAGE}/{self.verdict.value}"
        await self.o.recorder.close_call(
            CloseCall(
                call_id=self.call_id,
                ended_at=self.ended_at or datetime.now(UTC),
                disposition=Disposition.OVERFLOW,
                hangup_cause=self.cause,
                hangup_cause_text=self.cause_text or cause_text(self.cause),
                last_stage=stage,
            )
        )
        self.o.metrics.calls_ended.labels(Disposition.OVERFLOW.value).inc()
