"""Past calls.max_calls a caller hears the busy prompt and is hung up; past the prompt
slots (or while the service is far behind) the call is refused unanswered at once.
Every refusal is counted and has its record; the log gets one line with the counts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from callcenter.ari import EventRouter
from callcenter.ari.events import Channel, parse_event
from callcenter.calls.metrics import CallMetrics
from callcenter.calls.overload import Overload
from callcenter.calls.record_ops import AddEvent, CloseCall, MarkAnswered, OpenCall
from callcenter.config import CallsConfig
from callcenter.db.models import Disposition
from callcenter.errors import ConfigError
from callcenter.ivr.prompts import PromptLibrary
from tests.unit.acd_support import ManualTimers
from tests.unit.ari_payloads import channel_json, message
from tests.unit.fake_ari import FakeAri

PROMPTS = Path(__file__).resolve().parents[2] / "ivr_flows" / "prompts"


class Records:
    """The call record writer, in memory."""

    def __init__(self) -> None:
        self.ops: list[Any] = []
        self.closed = asyncio.Event()

    def submit(self, op: Any) -> None:
        self.ops.append(op)

    async def close_call(self, op: CloseCall) -> None:
        self.ops.append(op)
        self.closed.set()

    def of(self, channel_id: str) -> list[Any]:
        [opened] = [o for o in self.ops if isinstance(o, OpenCall) and o.channel_id == channel_id]
        return [o for o in self.ops if getattr(o, "call_id", None) == opened.call_id]


class BusyAri(FakeAri):
    """Answers and plays; a playback finishes when the test says so."""

    def __init__(self, router: EventRouter) -> None:
        super().__init__(router)
        self.playing: dict[str, str] = {}  # channel → playback id
        self.requested = asyncio.Event()

    def _asked(self, *request: Any) -> None:
        self.requests.append(request)
        self.requested.set()

    async def answer(self, channel_id: str) -> None:
        self._asked("answer", channel_id)
        self._channel("POST", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._asked("hangup", channel_id, reason)
        self._channel("DELETE", channel_id)
        self.hang_up(channel_id)

    async def play(
        self, channel_id: str, playback_id: str, media: str | list[str], lang: str | None = None
    ) -> dict[str, Any]:
        self._asked("play", channel_id, media)
        self._channel("POST", channel_id)
        self.playing[channel_id] = playback_id
        self._playback("PlaybackStarted", channel_id, playback_id, media)
        return {"id": playback_id}

    def finish(self, channel_id: str) -> None:
        self._playback("PlaybackFinished", channel_id, self.playing.pop(channel_id), "")

    def _playback(self, kind: str, channel_id: str, playback_id: str, media: Any) -> None:
        playback = {
            "id": playback_id,
            "media_uri": str(media),
            "target_uri": f"channel:{channel_id}",
            "state": "done" if kind == "PlaybackFinished" else "playing",
        }
        self.router.dispatch(parse_event(message(kind, playback=playback)))

    def arrives(self, channel_id: str) -> Channel:
        self.channels[channel_id] = "PJSIP/citizen-trunk"
        return Channel.from_json(channel_json(channel_id))


class Centre:
    def __init__(self, lag: float = 0.0, **calls: Any) -> None:
        self.router = EventRouter()
        self.ari = BusyAri(self.router)
        self.records = Records()
        self.registry = CollectorRegistry()
        self.timers = ManualTimers()
        self.lag = lag
        self.overload = Overload(
            self.ari,
            self.router,
            self.records,  # type: ignore[arg-type]
            CallsConfig(**{"max_calls": 2, "overload_prompt_slots": 1, **calls}),
            CallMetrics.create(self.registry),
            PromptLibrary(PROMPTS),
            lag=lambda: self.lag,
            timers=self.timers,
        )

    def refused(self, how: str) -> float | None:
        return self.registry.get_sample_value("hotline_overload_refused_total", {"how": how})

    def take(self, channel_id: str, serving: int) -> bool:
        return self.overload.take(self.ari.arrives(channel_id), datetime.now(UTC), serving)

    async def until(self, *request: Any) -> None:
        async with asyncio.timeout(5):
            while request not in self.ari.requests:
                self.ari.requested.clear()
                await self.ari.requested.wait()

    async def done(self) -> None:
        async with asyncio.timeout(5):
            await self.overload.settled()
        assert self.overload.refusing() == 0


async def test_under_the_cap_calls_are_served_and_nothing_is_counted() -> None:
    c = Centre()
    assert c.take("c-1", serving=0) is False
    assert c.take("c-2", serving=1) is False
    assert c.ari.requests == [] and c.records.ops == []
    assert c.refused("busy_prompt") == 0.0 and c.refused("rejected") == 0.0


async def test_past_the_cap_the_caller_hears_the_busy_prompt_and_is_hung_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = Centre()
    with caplog.at_level(logging.WARNING, logger="callcenter.calls.overload"):
        assert c.take("c-3", serving=2) is True
        await c.until("play", "c-3", "sound:/hotline/prompts/zh/overloaded")
        assert c.overload.refusing() == 1
        # The prompt slot is taken: the next one is refused unanswered at once.
        assert c.take("c-4", serving=2) is True
        await c.until("hangup", "c-4", "congestion")
        c.ari.finish("c-3")
        await c.until("hangup", "c-3", "normal")
        await c.done()
        assert caplog.records == []  # counted now, logged once a second
        c.timers.advance(1.0)
    assert [r.getMessage() for r in caplog.records] == [
        "overload: 2 calls refused in the last 1 s (1 heard the busy prompt, 1 refused "
        "unanswered); serving 2 of max_calls 2, event loop 0.00 s late"
    ]
    assert ("answer", "c-3") in c.ari.requests and ("answer", "c-4") not in c.ari.requests
    assert c.refused("busy_prompt") == 1.0 and c.refused("rejected") == 1.0
    heard = c.records.of("c-3")
    assert [type(o) for o in heard] == [OpenCall, AddEvent, MarkAnswered, AddEvent, CloseCall]
    assert heard[1].kind == "overload_refused"
    assert heard[1].detail == {"how": "busy_prompt", "prompt": "overloaded"}
    assert heard[3].kind == "busy_prompt_played"
    assert heard[-1].disposition is Disposition.OVERFLOW
    assert heard[-1].last_stage == "overload/busy_prompt" and heard[-1].hangup_cause == 16
    rejected = c.records.of("c-4")
    assert rejected[1].detail == {"how": "rejected", "prompt": None}
    assert rejected[-1].disposition is Disposition.OVERFLOW
    assert rejected[-1].last_stage == "overload/rejected"
    assert c.router.keys() == []  # no inbox left behind
    # Quiet again: no further line, the counts start over.
    c.timers.advance(5.0)
    assert len(caplog.records) == 1


async def test_a_caller_hanging_up_during_the_prompt_is_not_hung_up_again() -> None:
    c = Centre()
    c.take("c-5", serving=2)
    await c.until("play", "c-5", "sound:/hotline/prompts/zh/overloaded")
    c.ari.hang_up("c-5")
    await c.done()
    assert not [r for r in c.ari.requests if r[0] == "hangup"]
    [closed] = [o for o in c.records.of("c-5") if isinstance(o, CloseCall)]
    assert closed.disposition is Disposition.OVERFLOW and closed.hangup_cause == 16
    kinds = [o.kind for o in c.records.of("c-5") if isinstance(o, AddEvent)]
    assert kinds == ["overload_refused"]  # never heard it to the end


async def test_far_behind_every_new_call_is_refused_unanswered_whatever_the_count() -> None:
    c = Centre(lag=1.5, overload_lag_seconds=1.0)
    assert c.take("c-6", serving=0) is True
    await c.until("hangup", "c-6", "congestion")
    await c.done()
    assert c.refused("rejected") == 1.0
    c.lag = 0.2
    assert c.take("c-7", serving=0) is False


async def test_one_owner_a_channel_being_refused_is_not_taken_again() -> None:
    c = Centre()
    c.take("c-8", serving=2)
    await c.until("play", "c-8", "sound:/hotline/prompts/zh/overloaded")
    assert c.overload.take(Channel.from_json(channel_json("c-8")), datetime.now(UTC), 0)
    assert c.refused("busy_prompt") == 1.0
    c.ari.finish("c-8")
    await c.done()


def test_a_busy_prompt_that_does_not_exist_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"calls.busy_prompt: no prompt 'gone'"):
        Overload(
            FakeAri(EventRouter()),  # type: ignore[arg-type]
            EventRouter(),
            Records(),  # type: ignore[arg-type]
            CallsConfig(busy_prompt="gone"),
            CallMetrics.create(CollectorRegistry()),
            PromptLibrary(PROMPTS),
        )
