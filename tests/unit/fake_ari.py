"""An in-memory Asterisk for call code.

It implements :class:`callcenter.ari.AriPort` (mypy checks ``FakeAri`` against it),
keeps channels, bridges, playbacks, recordings and variables, answers REST calls
with ARI's status codes (404 once a channel is gone) and emits events in Asterisk
22's JSON through the real decoder and the real :class:`EventRouter`, so the call
code under test reads them from its inboxes as it does live.

What a test can do to it:

- ``fail(method, status, nth=...)``: answer a request with 404/409/500 (or 0:
  Asterisk unreachable), every time or only the nth call of that method (or the
  nth request of all, with ``method=None``). An injected 404 on a channel means
  the caller hung up just before: the channel goes first, as it would live.
- ``after_request(hook)``: run ``hook(n, request)`` once the nth request is
  answered (or refused), e.g. hang the caller up right there.
- ``hold()`` / ``release(order)``: keep the events Asterisk sends and deliver
  them later in another order; ``hang_up(..., order=...)`` likewise.
- playbacks finish on their own one loop turn after they start
  (``auto_finish=False``: when the test calls ``finish_playback``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from callcenter.ari import AriPort, EventRouter, Inbox
from callcenter.ari.errors import AriNotFound, AriUnavailable, http_error
from callcenter.ari.events import (
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    decode_event,
)
from callcenter.ari.models import Endpoint, StoredRecording
from tests.unit.ari_payloads import channel_json, message

Request = tuple[Any, ...]
AfterHook = Callable[[int, Request], object]

HANGUP_ORDER = ("ChannelHangupRequest", "StasisEnd", "ChannelDestroyed")

# The HTTP side of each request, for the errors a refusal raises.
_HTTP: dict[str, tuple[str, str]] = {
    "list_channels": ("GET", "/channels"),
    "get_channel": ("GET", "/channels/{id}"),
    "answer": ("POST", "/channels/{id}/answer"),
    "hangup": ("DELETE", "/channels/{id}"),
    "continue_in_dialplan": ("POST", "/channels/{id}/continue"),
    "play": ("POST", "/channels/{id}/play/{playback}"),
    "stop_playback": ("DELETE", "/playbacks/{id}"),
    "transfer_progress": ("POST", "/channels/{id}/transfer_progress"),
    "snoop": ("POST", "/channels/{id}/snoop/{snoop}"),
    "set_variable": ("POST", "/channels/{id}/variable"),
    "get_variable": ("GET", "/channels/{id}/variable"),
    "create_channel": ("POST", "/channels/create"),
    "dial": ("POST", "/channels/{id}/dial"),
    "start_moh": ("POST", "/channels/{id}/moh"),
    "stop_moh": ("DELETE", "/channels/{id}/moh"),
    "record": ("POST", "/channels/{id}/record"),
    "stored_recording": ("GET", "/recordings/stored/{name}"),
    "stored_recording_file": ("GET", "/recordings/stored/{name}/file"),
    "delete_stored_recording": ("DELETE", "/recordings/stored/{name}"),
    "list_bridges": ("GET", "/bridges"),
    "create_bridge": ("POST", "/bridges/{id}"),
    "delete_bridge": ("DELETE", "/bridges/{id}"),
    "add_channel": ("POST", "/bridges/{id}/addChannel"),
    "remove_channel": ("POST", "/bridges/{id}/removeChannel"),
    "start_bridge_moh": ("POST", "/bridges/{id}/moh"),
    "record_bridge": ("POST", "/bridges/{id}/record"),
    "reload_module": ("PUT", "/asterisk/modules/{name}"),
    "subscribe": ("POST", "/applications/{app}/subscription"),
    "list_endpoints": ("GET", "/endpoints/{tech}"),
}
_MESSAGES = {
    404: "Channel not found",
    409: "Channel not in Stasis application",
    500: "Internal Server Error",
}


@dataclass
class Failure:
    """One injected refusal: ``method`` (None: any request), ``nth`` call of it
    (None: every call), answered with ``status`` (0: Asterisk unreachable)."""

    method: str | None
    status: int
    nth: int | None
    message: str


class FakeAri:
    def __init__(
        self, router: EventRouter, *, answers: bool = True, auto_finish: bool = True
    ) -> None:
        self.router = router
        self.answers = answers  # dialled legs answer (or ring until hung up)
        self.auto_finish = auto_finish  # playbacks end by themselves
        self.starts_playbacks = True  # False: accepted, but PlaybackStarted never comes
        self.legs_enter_stasis = True  # False: created channels never reach StasisStart
        self.recording_seconds = 3  # how long a recording ended by a hangup/deletion ran
        self.channels: dict[str, str] = {}  # id → endpoint
        self.up: set[str] = set()  # channels answered
        self.bridges: dict[str, list[str]] = {}
        self.playbacks: dict[str, str] = {}  # playing: playback id → channel id
        self.recordings: dict[str, str] = {}  # live: name → target uri
        self.stored: dict[str, bytes] = {}  # finished recordings
        self.variables: dict[tuple[str, str], str] = {}
        self.endpoints: dict[str, str] = {}  # PJSIP resource → "online" / "offline"
        self.requests: list[Request] = []  # every REST call, in order
        self.counts: dict[str, int] = {}  # calls per method
        self.failures: list[Failure] = []
        self.hooks: list[AfterHook] = []
        self.answered: asyncio.Queue[str] = asyncio.Queue()  # legs as they answer
        self.joined: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # (bridge, channel)
        self._held: list[dict[str, Any]] | None = None
        self.__request_done = asyncio.Event()

    # What the test does ---------------------------------------------------------------
    def open_inbox(self, key: str) -> Inbox:
        return self.router.register(Inbox(key))

    def caller(self, channel_id: str = "caller-1") -> Inbox:
        """A caller's channel already in Stasis, and its inbox."""
        self.channels[channel_id] = "PJSIP/citizen-trunk"
        return self.open_inbox(f"channel:{channel_id}")

    def arrive(
        self, channel_id: str = "caller-1", args: Sequence[str] = ("inbound",), **fields: Any
    ) -> Channel:
        """A caller's channel enters Stasis: StasisStart goes to the router (whose
        fallback starts the call, as in the service)."""
        self.channels[channel_id] = str(fields.get("name", "PJSIP/citizen-trunk"))
        data = channel_json(channel_id, **fields)
        self.send(message("StasisStart", channel=data, args=list(args)))
        return Channel.from_json(data)

    def fail(
        self,
        method: str | None,
        status: int = 404,
        *,
        nth: int | None = None,
        message: str | None = None,
    ) -> None:
        """Refuse ``method`` (every call, or its ``nth``; ``None``: the nth request)."""
        if method is not None and method not in _HTTP:
            raise ValueError(f"no ARI request named {method!r}")
        text = message or _MESSAGES.get(status, "Asterisk unreachable")
        self.failures.append(Failure(method, status, nth, text))

    def after_request(self, hook: AfterHook) -> None:
        self.hooks.append(hook)

    def hang_up_after(self, n: int, channel_id: str) -> None:
        """The far end hangs up as soon as the ``n``-th request is answered."""

        def hook(index: int, _request: Request) -> None:
            if index == n and channel_id in self.channels:
                self.hang_up(channel_id)

        self.after_request(hook)

    def send(self, msg: dict[str, Any]) -> None:
        """One event from Asterisk, through the real decoder and router (or held)."""
        if self._held is not None:
            self._held.append(msg)
        else:
            self.router.dispatch(decode_event(orjson.dumps(msg)))

    def emit(self, event_type: str, channel_id: str, **fields: Any) -> None:
        state = "Up" if channel_id in self.up else "Ring"
        self.send(message(event_type, channel=channel_json(channel_id, state=state), **fields))

    def hold(self) -> None:
        """Keep the events Asterisk sends from now on until :meth:`release`."""
        if self._held is None:
            self._held = []

    def release(
        self, order: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    ) -> None:
        """Deliver the held events, in ``order(events)`` (default: reversed)."""
        held, self._held = self._held or [], None
        for msg in order(held) if order else list(reversed(held)):
            self.send(msg)

    def softphone_transfer(self, channel_id: str, destination: str) -> None:
        """The agent's phone sent REFER (PJSIP_TRANSFER_HANDLING=ari-only)."""
        source = channel_json(channel_id, state="Up")
        self.send(
            message(
                "ChannelTransfer",
                state="requested",
                refer_to={"requested_destination": {"destination": destination}},
                referred_by={"source_channel": source},
            )
        )

    def hang_up(
        self, channel_id: str, cause: int = 16, order: Sequence[str] = HANGUP_ORDER
    ) -> None:
        """The far end hangs up (its events in ``order``, Asterisk's by default)."""
        self.channels.pop(channel_id, None)
        self.up.discard(channel_id)
        for members in self.bridges.values():
            if channel_id in members:
                members.remove(channel_id)
        for playback_id, target in list(self.playbacks.items()):
            if target == channel_id:
                del self.playbacks[playback_id]
        fields: dict[str, dict[str, Any]] = {
            "ChannelHangupRequest": {"cause": cause},
            "StasisEnd": {},
            "ChannelDestroyed": {"cause": cause, "cause_txt": "Normal Clearing"},
        }
        for event_type in order:
            self.emit(event_type, channel_id, **fields[event_type])
            if event_type == "ChannelHangupRequest":  # then its recordings end
                self._finish_recordings_of(f"channel:{channel_id}")
        self._finish_recordings_of(f"channel:{channel_id}")

    def press(self, channel_id: str, digits: str) -> None:
        for digit in digits:
            self.emit("ChannelDtmfReceived", channel_id, digit=digit, duration_ms=100)

    def finish_playback(self, playback_id: str) -> None:
        channel_id = self.playbacks.pop(playback_id, None)
        if channel_id is not None:
            self._playback_event("PlaybackFinished", playback_id, channel_id, "done")

    def finish_recording(self, name: str, duration: int = 5) -> None:
        target = self.recordings.pop(name, None)
        if target is None:
            return  # ended already
        self.stored[name] = b"RIFF" + b"\x00" * 40
        recording = {
            "name": name,
            "format": "wav",
            "target_uri": target,
            "state": "done",
            "duration": duration,
        }
        self.send(message("RecordingFinished", recording=recording))

    async def until_joined(self, channel_id: str) -> str:
        """The bridge ``channel_id`` is added to, once it is."""
        async with asyncio.timeout(5):
            while True:
                bridge_id, joined = await self.joined.get()
                if joined == channel_id:
                    return bridge_id

    def dialled(self) -> list[str]:
        return [r[2] for r in self.requests if r[0] == "create_channel"]

    def kinds(self) -> list[str]:
        """The requests' method names, in order."""
        return [r[0] for r in self.requests]

    # Bookkeeping of every request -----------------------------------------------------
    @contextlib.contextmanager
    def _request(self, *request: Any) -> Iterator[None]:
        """Record the request, refuse it if a failure says so, run the after-hooks."""
        self.requests.append(request)
        n = len(self.requests)
        name = request[0]
        self.counts[name] = self.counts.get(name, 0) + 1
        try:
            self._inject(n, request)
            yield
        finally:
            for hook in list(self.hooks):
                hook(n, request)
            self.__request_done.set()

    async def asked(self) -> None:
        """Until the next request has been answered (or refused)."""
        self.__request_done.clear()
        await self.__request_done.wait()

    def _inject(self, n: int, request: Request) -> None:
        name = request[0]
        for f in self.failures:
            if f.method is None:
                hit = f.nth is None or f.nth == n
            else:
                hit = f.method == name and (f.nth is None or f.nth == self.counts[name])
            if not hit:
                continue
            verb, path = _HTTP.get(name, ("POST", name))
            if f.status == 0:
                raise AriUnavailable(f"{verb} {path}: connection refused")
            if f.status == 404:
                self._gone(request)
            raise http_error(f.status, verb, path, f.message)

    def _gone(self, request: Request) -> None:
        """What an injected 404 names is gone, as it would be for Asterisk."""
        target = request[1] if len(request) > 1 else None
        if not isinstance(target, str):
            return
        if target in self.channels:
            self.hang_up(target)
        self.bridges.pop(target, None)
        self.finish_playback(target)  # a playback not found has just finished

    def _channel(self, method: str, channel_id: str) -> None:
        if channel_id not in self.channels:
            raise AriNotFound(404, method, f"/channels/{channel_id}", "Channel not found")

    def _bridge(self, method: str, bridge_id: str) -> list[str]:
        members = self.bridges.get(bridge_id)
        if members is None:
            raise AriNotFound(404, method, f"/bridges/{bridge_id}", "Bridge not found")
        return members

    def _channel_obj(self, channel_id: str) -> Channel:
        state = "Up" if channel_id in self.up else "Ring"
        return Channel.from_json(channel_json(channel_id, state=state))

    def _playback_event(self, kind: str, playback_id: str, channel_id: str, state: str) -> None:
        playback = {
            "id": playback_id,
            "media_uri": "sound:x",
            "next_media_uri": "",
            "target_uri": f"channel:{channel_id}",
            "language": "zh",
            "state": state,
        }
        self.send(message(kind, playback=playback))

    def _auto_finish(self, playback_id: str) -> None:
        if playback_id in self.playbacks:
            self.finish_playback(playback_id)

    # AriPort: channels ------------------------------------------------------------------
    async def list_channels(self) -> list[Channel]:
        with self._request("list_channels"):
            return [self._channel_obj(c) for c in self.channels]

    async def get_channel(self, channel_id: str) -> Channel:
        with self._request("get_channel", channel_id):
            self._channel("GET", channel_id)
            return self._channel_obj(channel_id)

    async def answer(self, channel_id: str) -> None:
        with self._request("answer", channel_id):
            self._channel("POST", channel_id)
            if channel_id not in self.up:
                self.up.add(channel_id)
                self.emit("ChannelStateChange", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        with self._request("hangup", channel_id):
            self._channel("DELETE", channel_id)
            self.hang_up(channel_id)

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        with self._request("continue_in_dialplan", channel_id, context):
            self._channel("POST", channel_id)
            self.channels.pop(channel_id)  # the dialplan has it now, not us
            self.emit("StasisEnd", channel_id)

    async def play(
        self, channel_id: str, playback_id: str, media: str | list[str], lang: str | None = None
    ) -> Playback:
        with self._request("play", channel_id, playback_id, media):
            self._channel("POST", channel_id)
            self.playbacks[playback_id] = channel_id
            if not self.starts_playbacks:
                return Playback(playback_id, str(media), f"channel:{channel_id}", "queued")
            self._playback_event("PlaybackStarted", playback_id, channel_id, "playing")
            if self.auto_finish:
                asyncio.get_running_loop().call_soon(self._auto_finish, playback_id)
            return Playback(playback_id, str(media), f"channel:{channel_id}", "queued")

    async def stop_playback(self, playback_id: str) -> None:
        with self._request("stop_playback", playback_id):
            if playback_id not in self.playbacks:
                raise AriNotFound(404, "DELETE", f"/playbacks/{playback_id}", "not found")
            self.finish_playback(playback_id)

    async def transfer_progress(self, channel_id: str, state: str) -> None:
        with self._request("transfer_progress", channel_id, state):
            self._channel("POST", channel_id)

    async def snoop(
        self,
        channel_id: str,
        snoop_id: str,
        *,
        app: str,
        spy: str = "both",
        whisper: str = "none",
        app_args: str | None = None,
    ) -> Channel:
        with self._request("snoop", channel_id, snoop_id, whisper):
            self._channel("POST", channel_id)
            self.channels[snoop_id] = f"Snoop/{channel_id}"
            self.up.add(snoop_id)
            self.emit("StasisStart", snoop_id, args=[app_args] if app_args else [])
            return self._channel_obj(snoop_id)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        with self._request("set_variable", channel_id, name):
            self._channel("POST", channel_id)
            self.variables[(channel_id, name)] = value

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        with self._request("get_variable", channel_id, name):
            self._channel("GET", channel_id)
            return self.variables.get((channel_id, name))

    async def create_channel(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str,
        app_args: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> Channel:
        with self._request("create_channel", channel_id, endpoint):
            self.channels[channel_id] = endpoint
            if self.legs_enter_stasis:
                self.emit("StasisStart", channel_id, args=[app_args] if app_args else [])
            return Channel.from_json(channel_json(channel_id, state="Down"))

    async def dial(
        self, channel_id: str, caller: str | None = None, timeout: int | None = None
    ) -> None:
        with self._request("dial", channel_id):
            self._channel("POST", channel_id)
            if self.answers:
                self.up.add(channel_id)
                self.emit("ChannelStateChange", channel_id)
                self.answered.put_nowait(channel_id)

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        with self._request("start_moh", channel_id):
            self._channel("POST", channel_id)

    async def stop_moh(self, channel_id: str) -> None:
        with self._request("stop_moh", channel_id):
            self._channel("DELETE", channel_id)

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> LiveRecording:
        with self._request("record", channel_id, name):
            self._channel("POST", channel_id)
            return self._start_recording(name, fmt, f"channel:{channel_id}")

    def _start_recording(self, name: str, fmt: str, target: str) -> LiveRecording:
        self.recordings[name] = target
        data = {"name": name, "format": fmt, "target_uri": target, "state": "recording"}
        self.send(message("RecordingStarted", recording=data))
        return LiveRecording.from_json(data)

    # AriPort: recordings ----------------------------------------------------------------
    async def stored_recording(self, name: str) -> StoredRecording:
        with self._request("stored_recording", name):
            if name not in self.stored:
                raise AriNotFound(404, "GET", f"/recordings/stored/{name}", "not found")
            return StoredRecording(name, "wav")

    async def stored_recording_file(self, name: str) -> bytes:
        with self._request("stored_recording_file", name):
            if name not in self.stored:
                raise AriNotFound(404, "GET", f"/recordings/stored/{name}/file", "not found")
            return self.stored[name]

    async def delete_stored_recording(self, name: str) -> None:
        with self._request("delete_stored_recording", name):
            if self.stored.pop(name, None) is None:
                raise AriNotFound(404, "DELETE", f"/recordings/stored/{name}", "not found")

    # AriPort: bridges -------------------------------------------------------------------
    async def list_bridges(self) -> list[Bridge]:
        with self._request("list_bridges"):
            return [Bridge(b, "mixing", tuple(m)) for b, m in self.bridges.items()]

    async def create_bridge(
        self, bridge_id: str, bridge_type: str = "mixing", name: str | None = None
    ) -> Bridge:
        with self._request("create_bridge", bridge_id):
            self.bridges[bridge_id] = []
            return Bridge(bridge_id, bridge_type, ())

    async def delete_bridge(self, bridge_id: str) -> None:
        with self._request("delete_bridge", bridge_id):
            self._bridge("DELETE", bridge_id)
            del self.bridges[bridge_id]
            self._finish_recordings_of(f"bridge:{bridge_id}")

    def _finish_recordings_of(self, target: str) -> None:
        """A bridge deleted or a channel hung up ends its recordings, as in Asterisk."""
        for name, recorded in list(self.recordings.items()):
            if recorded == target:
                self.finish_recording(name, self.recording_seconds)

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        with self._request("add_channel", bridge_id, channel_id):
            self._channel("POST", channel_id)
            self._bridge("POST", bridge_id).append(channel_id)
            self.joined.put_nowait((bridge_id, channel_id))

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        with self._request("remove_channel", bridge_id, channel_id):
            self._channel("POST", channel_id)
            members = self._bridge("POST", bridge_id)
            if channel_id in members:
                members.remove(channel_id)

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        with self._request("start_bridge_moh", bridge_id):
            self._bridge("POST", bridge_id)

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> LiveRecording:
        with self._request("record_bridge", bridge_id, name):
            self._bridge("POST", bridge_id)
            return self._start_recording(name, fmt, f"bridge:{bridge_id}")

    # AriPort: Asterisk ------------------------------------------------------------------
    async def reload_module(self, module: str) -> None:
        with self._request("reload_module", module):
            pass

    async def subscribe(self, event_source: str) -> None:
        with self._request("subscribe", event_source):
            pass

    async def list_endpoints(self, technology: str) -> list[Endpoint]:
        with self._request("list_endpoints", technology):
            return [Endpoint(technology, r, s, ()) for r, s in self.endpoints.items()]


def _is_an_ari_port(fake: FakeAri) -> AriPort:
    return fake  # mypy: FakeAri implements every AriPort request, with its signature
