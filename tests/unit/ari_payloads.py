"""Realistic ARI JSON payloads (Asterisk 22 shapes) shared by the unit tests."""

from __future__ import annotations

from typing import Any

from callcenter.ari.events import Event, parse_event

APP = "hotline"
TS = "2026-11-28T19:40:00.123+0000"


def channel_json(channel_id: str = "1732822800.42", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": channel_id,
        "name": "PJSIP/citizen-trunk-0000002a",
        "state": "Ring",
        "protocol_id": "a84d2f0e-5c1b-4e0a@127.0.0.1",
        "caller": {"name": "张三", "number": "13800138000"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "from-citizens",
            "exten": "12345",
            "priority": 2,
            "app_name": "Stasis",
            "app_data": "hotline,inbound",
        },
        "creationtime": "2026-11-28T19:39:59.870+0000",
        "language": "zh",
        "linkedid": "1732822800.40",
    }
    data.update(overrides)
    return data


def bridge_json(bridge_id: str = "b-7f3a", channels: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": bridge_id,
        "technology": "simple_bridge",
        "bridge_type": "mixing",
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": "",
        "channels": list(channels),
        "creationtime": TS,
        "video_mode": "talker",
    }


def message(event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "timestamp": TS,
        "asterisk_id": "52:54:00:12:34:56",
        "application": APP,
        **fields,
    }


def channel_event(event_type: str, channel_id: str = "1732822800.42", **fields: Any) -> Event:
    return parse_event(message(event_type, channel=channel_json(channel_id), **fields))


def playback_event(event_type: str, target_uri: str, playback_id: str = "pb-1") -> Event:
    return parse_event(
        message(
            event_type,
            playback={
                "id": playback_id,
                "media_uri": "sound:hello-world",
                "next_media_uri": "",
                "target_uri": target_uri,
                "language": "zh",
                "state": "playing" if event_type == "PlaybackStarted" else "done",
            },
        )
    )
