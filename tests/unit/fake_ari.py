"""An in-memory Asterisk for call code: it keeps channels and bridges, answers REST
calls with ARI's status codes (404 once a channel is gone) and emits events in
Asterisk 22's JSON through the real parser and router, so the call code under
test reads them from its inboxes as it does live."""

from __future__ import annotations

import asyncio
from typing import Any

from callcenter.ari import EventRouter, Inbox
from callcenter.ari.errors import AriNotFound
from callcenter.ari.events import parse_event
from tests.unit.ari_payloads import channel_json, message


class FakeAri:
    def __init__(self, router: EventRouter, *, answers: bool = True) -> None:
        self.router = router
        self.answers = answers  # dialled legs answer (or ring until hung up)
        self.channels: dict[str, str] = {}  # id → endpoint
        self.bridges: dict[str, list[str]] = {}
        self.requests: list[tuple[Any, ...]] = []  # every REST call, in order
        self.answered: asyncio.Queue[str] = asyncio.Queue()  # legs as they answer
        self.joined: asyncio.Queue[tuple[str, str]] = asyncio.Queue()  # (bridge, channel)

    # What the test does ---------------------------------------------------------------
    def open_inbox(self, key: str) -> Inbox:
        return self.router.register(Inbox(key))

    def caller(self, channel_id: str = "caller-1") -> Inbox:
        """A caller's channel already in Stasis, and its inbox."""
        self.channels[channel_id] = "PJSIP/citizen-trunk"
        return self.open_inbox(f"channel:{channel_id}")

    def emit(self, event_type: str, channel_id: str, **fields: Any) -> None:
        self.router.dispatch(
            parse_event(message(event_type, channel=channel_json(channel_id), **fields))
        )

    def softphone_transfer(self, channel_id: str, destination: str) -> None:
        """The agent's phone sent REFER (PJSIP_TRANSFER_HANDLING=ari-only)."""
        source = channel_json(channel_id, state="Up")
        self.router.dispatch(
            parse_event(
                message(
                    "ChannelTransfer",
                    state="requested",
                    refer_to={"requested_destination": {"destination": destination}},
                    referred_by={"source_channel": source},
                )
            )
        )

    def hang_up(self, channel_id: str) -> None:
        """The far end hangs up."""
        self.channels.pop(channel_id, None)
        self.emit("ChannelHangupRequest", channel_id, cause=16)
        self.emit("StasisEnd", channel_id)
        self.emit("ChannelDestroyed", channel_id, cause=16, cause_txt="Normal Clearing")

    async def until_joined(self, channel_id: str) -> str:
        """The bridge ``channel_id`` is added to, once it is."""
        async with asyncio.timeout(5):
            while True:
                bridge_id, joined = await self.joined.get()
                if joined == channel_id:
                    return bridge_id

    def dialled(self) -> list[str]:
        return [r[2] for r in self.requests if r[0] == "create_channel"]

    # The REST side of AriClient that call code uses -----------------------------------
    def _channel(self, method: str, channel_id: str) -> None:
        if channel_id not in self.channels:
            raise AriNotFound(404, method, f"/channels/{channel_id}", "Channel not found")

    async def create_channel(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str,
        app_args: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> dict[str, Any]:
        self.requests.append(("create_channel", channel_id, endpoint))
        self.channels[channel_id] = endpoint
        self.emit("StasisStart", channel_id, args=[app_args] if app_args else [])
        return channel_json(channel_id, state="Down")

    async def dial(
        self, channel_id: str, caller: str | None = None, timeout: int | None = None
    ) -> None:
        self.requests.append(("dial", channel_id))
        self._channel("POST", channel_id)
        if self.answers:
            self.router.dispatch(
                parse_event(
                    message("ChannelStateChange", channel=channel_json(channel_id, state="Up"))
                )
            )
            self.answered.put_nowait(channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.requests.append(("hangup", channel_id))
        self._channel("DELETE", channel_id)
        self.hang_up(channel_id)

    async def transfer_progress(self, channel_id: str, state: str) -> None:
        self.requests.append(("transfer_progress", channel_id, state))
        self._channel("POST", channel_id)

    async def create_bridge(
        self, bridge_id: str, bridge_type: str = "mixing", name: str | None = None
    ) -> dict[str, Any]:
        self.requests.append(("create_bridge", bridge_id))
        self.bridges[bridge_id] = []
        return {"id": bridge_id, "bridge_type": bridge_type, "channels": []}

    async def delete_bridge(self, bridge_id: str) -> None:
        self.requests.append(("delete_bridge", bridge_id))
        if self.bridges.pop(bridge_id, None) is None:
            raise AriNotFound(404, "DELETE", f"/bridges/{bridge_id}", "Bridge not found")

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        self.requests.append(("add_channel", bridge_id, channel_id))
        self._channel("POST", channel_id)
        if bridge_id not in self.bridges:
            raise AriNotFound(404, "POST", f"/bridges/{bridge_id}", "Bridge not found")
        self.bridges[bridge_id].append(channel_id)
        self.joined.put_nowait((bridge_id, channel_id))

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        self.requests.append(("start_moh", channel_id))
        self._channel("POST", channel_id)

    async def stop_moh(self, channel_id: str) -> None:
        self.requests.append(("stop_moh", channel_id))
        self._channel("DELETE", channel_id)
