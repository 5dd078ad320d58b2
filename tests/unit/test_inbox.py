from __future__ import annotations

import asyncio

import pytest

from callcenter.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Event,
    PlaybackFinished,
    StasisEnd,
)
from callcenter.ari.inbox import ChannelGone, Inbox, InboxOverflow

from .ari_payloads import channel_event, playback_event

CHAN = "1732822800.42"
KEY = f"channel:{CHAN}"


def dtmf(digit: str) -> Event:
    return channel_event("ChannelDtmfReceived", CHAN, digit=digit, duration_ms=100)


def finished(playback_id: str = "pb-1") -> Event:
    return playback_event("PlaybackFinished", KEY, playback_id)


def is_playback_finished(event: Event) -> bool:
    return isinstance(event, PlaybackFinished)


async def test_get_returns_events_in_arrival_order():
    inbox = Inbox(KEY)
    events = [dtmf("1"), dtmf("2"), dtmf("3")]
    for e in events:
        inbox.put(e)
    assert inbox.pending() == 3
    assert [await inbox.get() for _ in events] == events
    assert inbox.pending() == 0


async def test_get_waits_for_a_later_put():
    inbox = Inbox(KEY)
    event = dtmf("5")
    asyncio.get_running_loop().call_later(0.01, inbox.put, event)
    assert await inbox.get(timeout=1) is event


async def test_get_times_out_when_nothing_arrives():
    inbox = Inbox(KEY)
    with pytest.raises(TimeoutError):
        await inbox.get(timeout=0.01)


async def test_wait_for_skips_until_match_and_leaves_later_events():
    inbox = Inbox(KEY)
    later = dtmf("9")
    target = finished()
    for e in (dtmf("1"), dtmf("2"), target, later):
        inbox.put(e)
    assert await inbox.wait_for(is_playback_finished) is target
    assert inbox.pending() == 1
    assert await inbox.get() is later


async def test_wait_for_times_out_even_while_non_matching_events_flow():
    inbox = Inbox(KEY)
    inbox.put(dtmf("1"))
    with pytest.raises(TimeoutError):
        await inbox.wait_for(is_playback_finished, timeout=0.02)
    assert inbox.pending() == 0


@pytest.mark.parametrize(
    ("event_type", "fields"),
    [
        ("StasisEnd", {}),
        ("ChannelDestroyed", {"cause": 16, "cause_txt": "Normal Clearing"}),
        ("ChannelHangupRequest", {"cause": 16}),
    ],
)
async def test_wait_for_raises_channel_gone_on_terminal_event(event_type, fields):
    inbox = Inbox(KEY)
    gone = channel_event(event_type, CHAN, **fields)
    inbox.put(dtmf("1"))
    inbox.put(gone)
    inbox.put(finished())
    with pytest.raises(ChannelGone) as info:
        await inbox.wait_for(is_playback_finished)
    assert info.value.event is gone
    assert event_type in str(info.value)
    assert inbox.pending() == 1  # the PlaybackFinished after it was not consumed


async def test_wait_for_returns_terminal_event_when_match_accepts_it():
    inbox = Inbox(KEY)
    end = channel_event("StasisEnd", CHAN)
    inbox.put(dtmf("1"))
    inbox.put(end)
    assert await inbox.wait_for(lambda e: isinstance(e, StasisEnd)) is end


async def test_wait_for_waiting_task_is_woken_by_hangup():
    inbox = Inbox(KEY)
    waiter = asyncio.create_task(inbox.wait_for(is_playback_finished, timeout=1))
    await asyncio.sleep(0)
    inbox.put(channel_event("ChannelHangupRequest", CHAN, cause=16))
    with pytest.raises(ChannelGone) as info:
        await waiter
    assert isinstance(info.value.event, ChannelHangupRequest)


async def test_observer_sees_every_consumed_event_in_order():
    seen: list[Event] = []
    inbox = Inbox(KEY, observer=seen.append)
    skipped = [dtmf("1"), dtmf("2")]
    target = finished()
    untouched = dtmf("3")
    for e in (*skipped, target, untouched):
        inbox.put(e)
    assert seen == []  # put alone does not show events
    await inbox.wait_for(is_playback_finished)
    assert seen == [*skipped, target]
    await inbox.get()
    assert seen == [*skipped, target, untouched]


async def test_observer_sees_the_terminal_event_that_raised():
    seen: list[Event] = []
    inbox = Inbox(KEY, observer=seen.append)
    end = channel_event("StasisEnd", CHAN)
    inbox.put(end)
    with pytest.raises(ChannelGone):
        await inbox.wait_for(is_playback_finished)
    assert seen == [end]


async def test_overflow_raises_at_once_so_no_event_after_a_dropped_one_is_used():
    inbox = Inbox(KEY, maxsize=2)
    first, second = dtmf("1"), dtmf("2")
    for e in (first, second, dtmf("3"), dtmf("4")):
        inbox.put(e)
    assert inbox.pending() == 2
    with pytest.raises(InboxOverflow, match=KEY):
        await inbox.get(timeout=1)
    with pytest.raises(InboxOverflow):  # and keeps failing: the call cannot be trusted
        await inbox.wait_for(is_playback_finished, timeout=1)


async def test_overflow_wakes_a_waiting_consumer():
    inbox = Inbox(KEY, maxsize=1)
    waiter = asyncio.create_task(inbox.wait_for(is_playback_finished, timeout=1))
    await asyncio.sleep(0)
    inbox.put(dtmf("1"))
    inbox.put(dtmf("2"))
    with pytest.raises(InboxOverflow):
        await waiter


async def test_mark_lost_raises_channel_gone_without_event():
    inbox = Inbox(KEY)
    waiter = asyncio.create_task(inbox.get(timeout=1))
    await asyncio.sleep(0)
    inbox.mark_lost()
    with pytest.raises(ChannelGone) as info:
        await waiter
    assert info.value.event is None
    assert "lost" in str(info.value)


async def test_mark_lost_delivers_pending_events_first():
    inbox = Inbox(KEY)
    event = dtmf("1")
    inbox.put(event)
    inbox.mark_lost()
    assert await inbox.get() is event
    with pytest.raises(ChannelGone):
        await inbox.wait_for(is_playback_finished, timeout=1)


async def test_ended_is_none_until_the_end_is_consumed():
    inbox = Inbox(KEY)
    end = channel_event("StasisEnd", CHAN)
    inbox.put(end)
    assert inbox.ended is None
    with pytest.raises(ChannelGone):
        await inbox.wait_for(is_playback_finished)
    assert inbox.ended is end


async def test_ended_keeps_the_first_end_event():
    inbox = Inbox(KEY)
    end = channel_event("StasisEnd", CHAN)
    destroyed = channel_event("ChannelDestroyed", CHAN, cause=16)
    inbox.put(end)
    inbox.put(destroyed)
    await inbox.get()
    assert isinstance(await inbox.get(), ChannelDestroyed)
    assert inbox.ended is end


async def test_ended_is_set_by_channel_destroyed_but_not_by_hangup_request():
    inbox = Inbox(KEY)
    inbox.put(channel_event("ChannelHangupRequest", CHAN, cause=16))
    await inbox.get()
    assert inbox.ended is None
    destroyed = channel_event("ChannelDestroyed", CHAN, cause=16)
    inbox.put(destroyed)
    await inbox.get()
    assert inbox.ended is destroyed
