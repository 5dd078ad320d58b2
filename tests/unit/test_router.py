from __future__ import annotations

import logging

import pytest

from callcenter.ari.events import Event, parse_event
from callcenter.ari.inbox import Inbox
from callcenter.ari.router import EventRouter

from .ari_payloads import bridge_json, channel_event, channel_json, message, playback_event

A, B = "1732822800.42", "1732822801.7"
BRIDGE = "b-7f3a"


async def consumed(inbox: Inbox) -> list[Event]:
    return [await inbox.get() for _ in range(inbox.pending())]


def entered_bridge(channel_id: str) -> Event:
    return parse_event(
        message(
            "ChannelEnteredBridge",
            bridge=bridge_json(BRIDGE, (channel_id,)),
            channel=channel_json(channel_id),
        )
    )


async def test_dispatch_delivers_only_to_the_channels_inbox():
    router = EventRouter()
    a = router.register(Inbox(f"channel:{A}"))
    b = router.register(Inbox(f"channel:{B}"))
    event = channel_event("ChannelDtmfReceived", A, digit="1")
    router.dispatch(event)
    assert await consumed(a) == [event]
    assert b.pending() == 0


async def test_dispatch_preserves_order_per_inbox():
    router = EventRouter()
    a = router.register(Inbox(f"channel:{A}"))
    events = [
        channel_event("ChannelStateChange", A),
        playback_event("PlaybackStarted", f"channel:{A}"),
        channel_event("ChannelDtmfReceived", A, digit="2"),
        playback_event("PlaybackFinished", f"channel:{A}"),
        channel_event("StasisEnd", A),
    ]
    for e in events:
        router.dispatch(e)
    got = await consumed(a)
    assert [e.type for e in got] == [e.type for e in events]
    assert all(g is e for g, e in zip(got, events, strict=True))


async def test_bridge_event_reaches_both_channel_and_bridge_inboxes():
    router = EventRouter()
    chan = router.register(Inbox(f"channel:{A}"))
    bridge = router.register(Inbox(f"bridge:{BRIDGE}"))
    event = entered_bridge(A)
    router.dispatch(event)
    assert await consumed(chan) == [event]
    assert await consumed(bridge) == [event]


def test_unrouted_event_goes_to_fallback_routed_one_does_not():
    seen: list[Event] = []
    router = EventRouter(fallback=seen.append)
    router.register(Inbox(f"channel:{A}"))
    router.dispatch(channel_event("ChannelDtmfReceived", A, digit="1"))
    start = channel_event("StasisStart", B, args=["inbound"])
    router.dispatch(start)
    global_var = parse_event(message("ChannelVarset", variable="MODE", value="night"))
    router.dispatch(global_var)
    assert seen == [start, global_var]


def test_event_delivered_to_any_inbox_skips_fallback():
    seen: list[Event] = []
    router = EventRouter(fallback=seen.append)
    router.register(Inbox(f"bridge:{BRIDGE}"))  # the channel itself has no inbox
    router.dispatch(entered_bridge(A))
    assert seen == []


def test_without_fallback_unrouted_events_are_dropped():
    router = EventRouter()
    router.dispatch(channel_event("StasisStart", A))  # must not raise
    assert router.keys() == []


def test_fallback_exception_is_logged_not_raised(caplog: pytest.LogCaptureFixture):
    calls: list[Event] = []

    def bad(event: Event) -> None:
        calls.append(event)
        raise RuntimeError("handler bug")

    router = EventRouter(fallback=bad)
    with caplog.at_level(logging.ERROR, logger="callcenter.ari.router"):
        router.dispatch(channel_event("StasisStart", A))
        router.dispatch(channel_event("StasisStart", B))
    assert len(calls) == 2  # the router keeps working after a failure
    assert "StasisStart" in caplog.text
    assert "handler bug" in caplog.text


def test_register_returns_inbox_and_lookup_by_key():
    router = EventRouter()
    inbox = Inbox(f"channel:{A}")
    assert router.register(inbox) is inbox
    assert router.inbox(f"channel:{A}") is inbox
    assert router.inbox(f"channel:{B}") is None
    assert router.keys() == [f"channel:{A}"]


def test_unregister_removes_inbox_and_routes_to_fallback_again():
    seen: list[Event] = []
    router = EventRouter(fallback=seen.append)
    inbox = router.register(Inbox(f"channel:{A}"))
    router.unregister(inbox)
    event = channel_event("ChannelDtmfReceived", A)
    router.dispatch(event)
    assert router.inbox(f"channel:{A}") is None
    assert inbox.pending() == 0
    assert seen == [event]


def test_unregister_of_a_replaced_inbox_keeps_the_new_one():
    router = EventRouter()
    old = router.register(Inbox(f"channel:{A}"))
    new = router.register(Inbox(f"channel:{A}"))
    router.unregister(old)
    assert router.inbox(f"channel:{A}") is new
    router.dispatch(channel_event("ChannelDtmfReceived", A))
    assert (old.pending(), new.pending()) == (0, 1)
    router.unregister(new)
    assert router.inbox(f"channel:{A}") is None


def test_unregister_unknown_inbox_is_a_no_op():
    router = EventRouter()
    router.unregister(Inbox(f"channel:{A}"))
    assert router.keys() == []
