"""Typed ARI events.

Only the fields call code relies on are typed; every event keeps its raw JSON
so nothing Asterisk sends is lost. Event types this module does not know are
passed through as :class:`UnknownEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

Json = dict[str, Any]
_EMPTY: Json = {}


def parse_timestamp(value: str | None) -> datetime:
    """Parse Asterisk's ``2026-11-28T19:40:00.123+0000``; now() when absent.

    ``fromisoformat`` (C, Python 3.11+ reads ``+0000``) costs a tenth of
    ``strptime``, which remains only for a shape it refuses.
    """
    if not value:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    caller_name: str
    exten: str
    context: str
    linkedid: str
    language: str
    creationtime: datetime | None
    app_name: str  # the dialplan application the channel is in ("Stasis" while ours)
    app_data: str

    @classmethod
    def from_json(cls, data: Json) -> Channel:
        get = data.get
        caller = get("caller") or _EMPTY
        dialplan = get("dialplan") or _EMPTY
        created = get("creationtime")
        # Positional, in field order: two of these are built for most events.
        return cls(
            get("id", ""),
            get("name", ""),
            get("state", ""),
            caller.get("number", ""),
            caller.get("name", ""),
            dialplan.get("exten", ""),
            dialplan.get("context", ""),
            # linkedid was added to the model in Asterisk 16; older ones lack it.
            get("linkedid") or get("id", ""),
            get("language", ""),
            parse_timestamp(created) if created else None,
            dialplan.get("app_name", ""),
            dialplan.get("app_data", ""),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str
    state: str

    @classmethod
    def from_json(cls, data: Json) -> Playback:
        return cls(
            id=data.get("id", ""),
            media_uri=data.get("media_uri", ""),
            target_uri=data.get("target_uri", ""),
            state=data.get("state", ""),
        )


@dataclass(frozen=True, slots=True)
class LiveRecording:
    name: str
    format: str
    target_uri: str
    state: str
    duration: int | None
    cause: str

    @classmethod
    def from_json(cls, data: Json) -> LiveRecording:
        return cls(
            name=data.get("name", ""),
            format=data.get("format", ""),
            target_uri=data.get("target_uri", ""),
            state=data.get("state", ""),
            duration=data.get("duration"),
            cause=data.get("cause", ""),
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    bridge_type: str
    channels: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Json) -> Bridge:
        return cls(
            id=data.get("id", ""),
            bridge_type=data.get("bridge_type", ""),
            channels=tuple(data.get("channels", ())),
        )


def _target_key(uri: str) -> tuple[str, ...]:
    """``channel:ID`` / ``bridge:ID`` as used in playback and recording targets."""
    return (uri,) if uri.startswith(("channel:", "bridge:")) else ()


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events; ``raw`` is the JSON exactly as received."""

    type: str
    application: str
    timestamp: datetime
    raw: Json = field(repr=False, compare=False)

    def route_keys(self) -> tuple[str, ...]:
        """The ``channel:ID`` / ``bridge:ID`` keys this event is delivered to."""
        return ()


@dataclass(frozen=True, slots=True)
class ChannelEvent(Event):
    channel: Channel

    def route_keys(self) -> tuple[str, ...]:
        return (f"channel:{self.channel.id}",)


@dataclass(frozen=True, slots=True)
class StasisStart(ChannelEvent):
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, slots=True)
class StasisEnd(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class ChannelStateChange(ChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived(ChannelEvent):
    digit: str = ""
    duration_ms: int = 0


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, slots=True)
class ChannelDestroyed(ChannelEvent):
    cause: int | None = None
    cause_txt: str = ""


@dataclass(frozen=True, slots=True)
class ChannelVarset(ChannelEvent):
    variable: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class PlaybackEvent(Event):
    playback: Playback

    def route_keys(self) -> tuple[str, ...]:
        return _target_key(self.playback.target_uri)


@dataclass(frozen=True, slots=True)
class PlaybackStarted(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True)
class PlaybackContinuing(PlaybackEvent):
    """The next media of a multi-media playback has started."""


@dataclass(frozen=True, slots=True)
class PlaybackFinished(PlaybackEvent):
    pass


@dataclass(frozen=True, slots=True)
class RecordingEvent(Event):
    recording: LiveRecording

    def route_keys(self) -> tuple[str, ...]:
        return _target_key(self.recording.target_uri)


@dataclass(frozen=True, slots=True)
class RecordingStarted(RecordingEvent):
    pass


@dataclass(frozen=True, slots=True)
class RecordingFinished(RecordingEvent):
    pass


@dataclass(frozen=True, slots=True)
class RecordingFailed(RecordingEvent):
    pass


@dataclass(frozen=True, slots=True)
class BridgeChannelEvent(Event):
    bridge: Bridge
    channel: Channel

    def route_keys(self) -> tuple[str, ...]:
        return (f"channel:{self.channel.id}", f"bridge:{self.bridge.id}")


@dataclass(frozen=True, slots=True)
class ChannelEnteredBridge(BridgeChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class ChannelLeftBridge(BridgeChannelEvent):
    pass


@dataclass(frozen=True, slots=True)
class ChannelTransfer(Event):
    """A phone asked to transfer (SIP REFER with PJSIP_TRANSFER_HANDLING=ari-only)."""

    source_channel_id: str = ""
    destination: str = ""  # blind transfer: the number dialled on the phone
    protocol_id: str = ""  # attended transfer: the SIP Call-ID of the consulted call

    def route_keys(self) -> tuple[str, ...]:
        return (f"channel:{self.source_channel_id}",) if self.source_channel_id else ()


@dataclass(frozen=True, slots=True)
class UnknownEvent(Event):
    """An event type this module has no class for; read ``raw``."""

    def route_keys(self) -> tuple[str, ...]:
        keys = []
        if isinstance(self.raw.get("channel"), dict) and "id" in self.raw["channel"]:
            keys.append(f"channel:{self.raw['channel']['id']}")
        # Dial names the dialled channel "peer": its status (BUSY, ...) is the leg's.
        if isinstance(self.raw.get("peer"), dict) and "id" in self.raw["peer"]:
            keys.append(f"channel:{self.raw['peer']['id']}")
        if isinstance(self.raw.get("bridge"), dict) and "id" in self.raw["bridge"]:
            keys.append(f"bridge:{self.raw['bridge']['id']}")
        return tuple(keys)


# Events are built positionally (type, application, timestamp, raw, ...): no
# per-event keyword dicts, since every event of every call passes through here.
Head = tuple[str, str, datetime, Json]


def _head(d: Json) -> Head:
    return (d.get("type", ""), d.get("application", ""), parse_timestamp(d.get("timestamp")), d)


def _chan(d: Json) -> Channel:
    return Channel.from_json(d.get("channel") or {})


def _stasis_start(d: Json) -> Event:
    replace = d.get("replace_channel")
    return StasisStart(
        *_head(d),
        _chan(d),
        tuple(d.get("args", ())),
        Channel.from_json(replace) if replace else None,
    )


def _varset(d: Json) -> Event:
    if not d.get("channel"):
        return UnknownEvent(*_head(d))  # a global variable: no channel to route to
    return ChannelVarset(*_head(d), _chan(d), d.get("variable", ""), d.get("value", ""))


def _plain_channel(cls: type[ChannelEvent]) -> Callable[[Json], Event]:
    return lambda d: cls(*_head(d), _chan(d))


def _playback(cls: type[PlaybackEvent]) -> Callable[[Json], Event]:
    return lambda d: cls(*_head(d), Playback.from_json(d.get("playback") or {}))


def _recording(cls: type[RecordingEvent]) -> Callable[[Json], Event]:
    return lambda d: cls(*_head(d), LiveRecording.from_json(d.get("recording") or {}))


def _bridge_channel(cls: type[BridgeChannelEvent]) -> Callable[[Json], Event]:
    return lambda d: cls(*_head(d), Bridge.from_json(d.get("bridge") or {}), _chan(d))


def _transfer(d: Json) -> Event:
    refer_to = d.get("refer_to") or {}
    wanted = refer_to.get("requested_destination") or {}
    source = (d.get("referred_by") or {}).get("source_channel") or {}
    return ChannelTransfer(
        *_head(d),
        source.get("id", ""),
        wanted.get("destination", "") or "",
        wanted.get("protocol_id", "") or "",
    )


_PARSERS: dict[str, Callable[[Json], Event]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": _plain_channel(StasisEnd),
    "ChannelStateChange": _plain_channel(ChannelStateChange),
    "ChannelDtmfReceived": lambda d: ChannelDtmfReceived(
        *_head(d), _chan(d), d.get("digit", ""), d.get("duration_ms", 0)
    ),
    "ChannelHangupRequest": lambda d: ChannelHangupRequest(
        *_head(d), _chan(d), d.get("cause"), bool(d.get("soft", False))
    ),
    "ChannelDestroyed": lambda d: ChannelDestroyed(
        *_head(d), _chan(d), d.get("cause"), d.get("cause_txt", "")
    ),
    "ChannelVarset": _varset,
    "PlaybackStarted": _playback(PlaybackStarted),
    "PlaybackContinuing": _playback(PlaybackContinuing),
    "PlaybackFinished": _playback(PlaybackFinished),
    "RecordingStarted": _recording(RecordingStarted),
    "RecordingFinished": _recording(RecordingFinished),
    "RecordingFailed": _recording(RecordingFailed),
    "ChannelEnteredBridge": _bridge_channel(ChannelEnteredBridge),
    "ChannelLeftBridge": _bridge_channel(ChannelLeftBridge),
    "ChannelTransfer": _transfer,
}


def parse_event(data: Json) -> Event:
    """Build the typed event for one decoded WebSocket message."""
    parser = _PARSERS.get(data.get("type", ""))
    return parser(data) if parser else UnknownEvent(*_head(data))


def decode_event(text: str | bytes) -> Event:
    """One WebSocket message (JSON text) to its typed event; ValueError if not JSON
    or not an object."""
    data = orjson.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"an ARI event is a JSON object, not {type(data).__name__}")
    return parse_event(data)
