from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
    parse_timestamp,
)

from .ari_payloads import APP, bridge_json, channel_json, message, playback_event

CHAN = "1732822800.42"
T0 = datetime(2026, 11, 28, 19, 40, 0, 123000, tzinfo=UTC)


# --- parse_timestamp -------------------------------------------------------------------


def test_parse_timestamp_asterisk_format_is_aware_with_milliseconds():
    assert parse_timestamp("2026-11-28T19:40:00.123+0000") == T0


def test_parse_timestamp_keeps_non_utc_offset():
    ts = parse_timestamp("2026-11-29T03:40:00.123+0800")
    assert ts.utcoffset() == timedelta(hours=8)
    assert ts == T0


def test_parse_timestamp_without_fraction_falls_back_to_isoformat():
    assert parse_timestamp("2026-11-28T19:40:00+00:00") == T0.replace(microsecond=0)


@pytest.mark.parametrize("value", [None, ""])
def test_parse_timestamp_absent_is_now_utc(value):
    before = datetime.now(UTC)
    ts = parse_timestamp(value)
    assert before <= ts <= datetime.now(UTC)
    assert ts.tzinfo is not None


def test_parse_timestamp_rejects_garbage_with_value_error():
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


# --- common fields ---------------------------------------------------------------------


def test_common_fields_and_raw_is_the_message_as_received():
    data = message("StasisEnd", channel=channel_json(CHAN))
    event = parse_event(data)
    assert event.type == "StasisEnd"
    assert event.application == APP
    assert event.timestamp == T0
    assert event.raw is data
    assert event.raw["asterisk_id"] == "52:54:00:12:34:56"


def test_channel_fields_are_typed():
    event = parse_event(message("StasisStart", args=[], channel=channel_json(CHAN)))
    ch = event.channel
    assert ch.id == CHAN
    assert ch.name == "PJSIP/citizen-trunk-0000002a"
    assert ch.state == "Ring"
    assert (ch.caller_number, ch.caller_name) == ("13800138000", "张三")
    assert (ch.context, ch.exten) == ("from-citizens", "12345")
    assert (ch.app_name, ch.app_data) == ("Stasis", "hotline,inbound")
    assert ch.linkedid == "1732822800.40"
    assert ch.language == "zh"
    assert ch.creationtime == datetime(2026, 11, 28, 19, 39, 59, 870000, tzinfo=UTC)


def test_channel_without_linkedid_uses_its_own_id():
    chan = channel_json(CHAN)
    del chan["linkedid"]
    assert parse_event(message("StasisEnd", channel=chan)).channel.linkedid == CHAN


def test_channel_with_missing_optional_parts_gets_empty_defaults():
    event = parse_event(message("StasisEnd", channel={"id": CHAN}))
    ch = event.channel
    assert ch.id == CHAN
    assert (ch.caller_number, ch.exten, ch.app_name) == ("", "", "")
    assert ch.creationtime is None


# --- typed channel events --------------------------------------------------------------


def test_stasis_start_with_args():
    event = parse_event(message("StasisStart", args=["inbound", "zh"], channel=channel_json(CHAN)))
    assert isinstance(event, StasisStart)
    assert event.args == ("inbound", "zh")
    assert event.replace_channel is None
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_stasis_start_without_args_and_with_replace_channel():
    old = channel_json("1732822800.41", name="Local/agent@hotline-0001;2")
    event = parse_event(message("StasisStart", channel=channel_json(CHAN), replace_channel=old))
    assert isinstance(event, StasisStart)
    assert event.args == ()
    assert event.replace_channel is not None
    assert event.replace_channel.id == "1732822800.41"
    assert event.route_keys() == (f"channel:{CHAN}",)


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [("StasisEnd", StasisEnd), ("ChannelStateChange", ChannelStateChange)],
)
def test_plain_channel_events(event_type, cls):
    event = parse_event(message(event_type, channel=channel_json(CHAN, state="Up")))
    assert type(event) is cls
    assert event.channel.state == "Up"
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_channel_dtmf_received():
    event = parse_event(
        message(
            "ChannelDtmfReceived",
            digit="#",
            duration_ms=120,
            channel=channel_json(CHAN, state="Up"),
        )
    )
    assert isinstance(event, ChannelDtmfReceived)
    assert (event.digit, event.duration_ms) == ("#", 120)
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_channel_hangup_request():
    event = parse_event(
        message("ChannelHangupRequest", cause=16, soft=True, channel=channel_json(CHAN))
    )
    assert isinstance(event, ChannelHangupRequest)
    assert (event.cause, event.soft) == (16, True)
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_channel_hangup_request_without_cause_is_hard():
    event = parse_event(message("ChannelHangupRequest", channel=channel_json(CHAN)))
    assert isinstance(event, ChannelHangupRequest)
    assert (event.cause, event.soft) == (None, False)


def test_channel_destroyed():
    event = parse_event(
        message(
            "ChannelDestroyed",
            cause=17,
            cause_txt="User busy",
            channel=channel_json(CHAN, state="Down"),
        )
    )
    assert isinstance(event, ChannelDestroyed)
    assert (event.cause, event.cause_txt) == (17, "User busy")
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_channel_varset_with_channel():
    event = parse_event(
        message("ChannelVarset", variable="RECORD_ID", value="9001", channel=channel_json(CHAN))
    )
    assert isinstance(event, ChannelVarset)
    assert (event.variable, event.value) == ("RECORD_ID", "9001")
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_global_varset_without_channel_is_unknown_and_unrouted():
    data = message("ChannelVarset", variable="GLOBAL_MODE", value="night")
    event = parse_event(data)
    assert isinstance(event, UnknownEvent)
    assert event.type == "ChannelVarset"
    assert event.raw["value"] == "night"
    assert event.route_keys() == ()


# --- playback and recording ------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [("PlaybackStarted", PlaybackStarted), ("PlaybackFinished", PlaybackFinished)],
)
def test_playback_events_route_to_their_target(event_type, cls):
    event = playback_event(event_type, f"channel:{CHAN}")
    assert type(event) is cls
    assert event.playback.id == "pb-1"
    assert event.playback.media_uri == "sound:hello-world"
    assert event.playback.state == ("playing" if cls is PlaybackStarted else "done")
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_playback_on_bridge_routes_to_bridge():
    assert playback_event("PlaybackStarted", "bridge:b-7f3a").route_keys() == ("bridge:b-7f3a",)


@pytest.mark.parametrize("target", ["endpoint:PJSIP/agent-1001", "deviceState:Stasis:x", ""])
def test_playback_on_other_targets_is_unrouted(target):
    assert playback_event("PlaybackFinished", target).route_keys() == ()


def _recording(event_type, **fields):
    rec = {
        "name": "call-1732822800.42",
        "format": "wav",
        "target_uri": f"channel:{CHAN}",
        "state": "recording",
        **fields,
    }
    return parse_event(message(event_type, recording=rec))


def test_recording_started():
    event = _recording("RecordingStarted")
    assert isinstance(event, RecordingStarted)
    assert (event.recording.name, event.recording.format) == ("call-1732822800.42", "wav")
    assert event.recording.duration is None
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_recording_finished_carries_duration():
    event = _recording(
        "RecordingFinished", state="done", duration=42, talking_duration=30, silence_duration=12
    )
    assert isinstance(event, RecordingFinished)
    assert (event.recording.state, event.recording.duration) == ("done", 42)


def test_recording_failed_carries_cause_and_routes_to_bridge():
    event = _recording(
        "RecordingFailed", state="failed", cause="Unable to open file", target_uri="bridge:b-7f3a"
    )
    assert isinstance(event, RecordingFailed)
    assert event.recording.cause == "Unable to open file"
    assert event.route_keys() == ("bridge:b-7f3a",)


# --- bridges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "cls"),
    [("ChannelEnteredBridge", ChannelEnteredBridge), ("ChannelLeftBridge", ChannelLeftBridge)],
)
def test_bridge_channel_events_route_to_channel_and_bridge(event_type, cls):
    event = parse_event(
        message(
            event_type,
            bridge=bridge_json("b-7f3a", (CHAN, "1732822801.7")),
            channel=channel_json(CHAN, state="Up"),
        )
    )
    assert type(event) is cls
    assert event.bridge.id == "b-7f3a"
    assert event.bridge.bridge_type == "mixing"
    assert event.bridge.channels == (CHAN, "1732822801.7")
    assert event.channel.id == CHAN
    assert event.route_keys() == (f"channel:{CHAN}", "bridge:b-7f3a")


# --- unknown events --------------------------------------------------------------------


def test_unknown_event_keeps_raw_and_routes_by_channel():
    data = message("ChannelTalkingStarted", channel=channel_json(CHAN))
    event = parse_event(data)
    assert isinstance(event, UnknownEvent)
    assert event.type == "ChannelTalkingStarted"
    assert event.raw == data
    assert event.route_keys() == (f"channel:{CHAN}",)


def test_unknown_event_routes_by_bridge():
    event = parse_event(message("BridgeDestroyed", bridge=bridge_json("b-7f3a")))
    assert isinstance(event, UnknownEvent)
    assert event.route_keys() == ("bridge:b-7f3a",)


def test_unknown_event_without_channel_or_bridge_is_unrouted():
    event = parse_event(
        message("DeviceStateChanged", device_state={"name": "Stasis:agent-1001", "state": "INUSE"})
    )
    assert isinstance(event, UnknownEvent)
    assert event.route_keys() == ()


def test_message_without_type_is_unknown():
    event = parse_event({"application": APP})
    assert isinstance(event, UnknownEvent)
    assert event.type == ""


def test_events_compare_without_raw():
    a = parse_event(message("StasisEnd", channel=channel_json(CHAN)))
    b = parse_event({**message("StasisEnd", channel=channel_json(CHAN)), "extra": 1})
    c = parse_event(message("StasisEnd", channel=channel_json("other")))
    assert a == b
    assert a != c
