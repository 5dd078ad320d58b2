"""``AriPort``: every ARI REST request the application makes, as one Protocol.

Call code is typed against this, not against :class:`AriClient`, so unit tests
can hand it an in-memory Asterisk (tests/unit/fake_ari.py) that mypy checks
against the same signatures. Replies are typed objects, never raw JSON.
"""

from __future__ import annotations

from typing import Protocol

from callcenter.ari.events import Bridge, Channel, LiveRecording, Playback
from callcenter.ari.models import Endpoint, StoredRecording


class AriPort(Protocol):
    # Channels ---------------------------------------------------------------
    async def list_channels(self) -> list[Channel]: ...

    async def get_channel(self, channel_id: str) -> Channel: ...

    async def answer(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None: ...

    async def play(
        self, channel_id: str, playback_id: str, media: str | list[str], lang: str | None = None
    ) -> Playback: ...

    async def stop_playback(self, playback_id: str) -> None: ...

    async def transfer_progress(self, channel_id: str, state: str) -> None: ...

    async def snoop(
        self,
        channel_id: str,
        snoop_id: str,
        *,
        app: str,
        spy: str = "both",
        whisper: str = "none",
        app_args: str | None = None,
    ) -> Channel: ...

    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...

    async def get_variable(self, channel_id: str, name: str) -> str | None: ...

    async def create_channel(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str,
        app_args: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> Channel: ...

    async def dial(
        self, channel_id: str, caller: str | None = None, timeout: int | None = None
    ) -> None: ...

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None: ...

    async def stop_moh(self, channel_id: str) -> None: ...

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
    ) -> LiveRecording: ...

    # Recordings ---------------------------------------------------------------
    async def stored_recording(self, name: str) -> StoredRecording: ...

    async def stored_recording_file(self, name: str) -> bytes: ...

    async def delete_stored_recording(self, name: str) -> None: ...

    # Bridges ------------------------------------------------------------------
    async def list_bridges(self) -> list[Bridge]: ...

    async def create_bridge(
        self, bridge_id: str, bridge_type: str = "mixing", name: str | None = None
    ) -> Bridge: ...

    async def delete_bridge(self, bridge_id: str) -> None: ...

    async def add_channel(self, bridge_id: str, channel_id: str) -> None: ...

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None: ...

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None: ...

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> LiveRecording: ...

    # Asterisk -----------------------------------------------------------------
    async def reload_module(self, module: str) -> None: ...

    async def subscribe(self, event_source: str) -> None: ...

    async def list_endpoints(self, technology: str) -> list[Endpoint]: ...
