"""An in-memory Asterisk for call control: FakeAri plus the bridge and snoop
requests a conversation makes, which task made each request, and snoop
channels that enter Stasis when the test says (or never), as they do live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from callcenter.ari import EventRouter
from callcenter.ari.errors import AriHttpError, AriNotFound
from callcenter.ari.events import parse_event
from tests.unit.ari_payloads import channel_json, message
from tests.unit.fake_ari import FakeAri

SnoopStart = Literal["now", "later", "never"]


class ControlAri(FakeAri):
    def __init__(
        self, router: EventRouter, *, answers: bool = True, snoop_start: SnoopStart = "now"
    ) -> None:
        super().__init__(router, answers=answers)
        self.snoop_start = snoop_start
        self.not_in_stasis: set[str] = set()  # snoops Asterisk has not handed us yet
        self.by_task: list[tuple[tuple[Any, ...], asyncio.Task[Any] | None]] = []
        self._requested = asyncio.Event()

    # What the test does ---------------------------------------------------------------
    def answer(self, channel_id: str) -> None:
        """A ringing leg answers."""
        self.router.dispatch(
            parse_event(message("ChannelStateChange", channel=channel_json(channel_id, state="Up")))
        )

    def enter_stasis(self, channel_id: str) -> None:
        self.not_in_stasis.discard(channel_id)
        self.emit("StasisStart", channel_id, args=["snoop"])

    def tasks_of(self, name: str) -> list[asyncio.Task[Any] | None]:
        """The tasks that made each ``name`` request."""
        return [task for request, task in self.by_task if request[0] == name]

    def ours(self) -> tuple[set[str], set[str]]:
        """Channels and bridges left in Asterisk."""
        return set(self.channels), set(self.bridges)

    async def until(self, done: Callable[[], bool]) -> None:
        """Until ``done()`` holds, checked after each request."""
        async with asyncio.timeout(5):
            while not done():
                self._requested.clear()
                await self._requested.wait()

    def _note(self) -> None:
        self.by_task.append((self.requests[-1], asyncio.current_task()))
        self._requested.set()

    # REST ----------------------------------------------------------------------------------
    async def create_channel(self, channel_id: str, endpoint: str, **kw: Any) -> Any:
        reply = await super().create_channel(channel_id, endpoint, **kw)
        self._note()
        return reply

    async def dial(self, channel_id: str, caller: str | None = None, timeout: int | None = None):
        await super().dial(channel_id, caller, timeout)
        self._note()

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.not_in_stasis.discard(channel_id)
        try:
            await super().hangup(channel_id, reason)
        finally:
            self._note()

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        if channel_id in self.not_in_stasis:
            self.requests.append(("add_channel", bridge_id, channel_id))
            self._note()
            raise AriHttpError(
                422, "POST", f"/bridges/{bridge_id}/addChannel", "Channel not in Stasis application"
            )
        try:
            await super().add_channel(bridge_id, channel_id)
        finally:
            self._note()

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing", name=None) -> Any:
        reply = await super().create_bridge(bridge_id, bridge_type, name)
        self._note()
        return reply

    async def delete_bridge(self, bridge_id: str) -> None:
        try:
            await super().delete_bridge(bridge_id)
        finally:
            self._note()

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await super().start_moh(channel_id, moh_class)
        self._note()

    async def stop_moh(self, channel_id: str) -> None:
        await super().stop_moh(channel_id)
        self._note()

    async def transfer_progress(self, channel_id: str, state: str) -> None:
        await super().transfer_progress(channel_id, state)
        self._note()

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        self.requests.append(("remove_channel", bridge_id, channel_id))
        self._note()
        self._channel("POST", channel_id)
        members = self.bridges.get(bridge_id)
        if members is None:
            raise AriNotFound(404, "POST", f"/bridges/{bridge_id}", "Bridge not found")
        if channel_id not in members:
            raise AriHttpError(
                422, "POST", f"/bridges/{bridge_id}/removeChannel", "Channel not in this bridge"
            )
        members.remove(channel_id)

    async def snoop(self, channel_id: str, snoop_id: str, **kw: Any) -> Any:
        self.requests.append(("snoop", channel_id, snoop_id, kw.get("whisper")))
        self._note()
        self._channel("POST", channel_id)
        self.channels[snoop_id] = f"Snoop/{channel_id}"
        if self.snoop_start == "now":
            self.emit("StasisStart", snoop_id, args=["snoop"])
        else:
            self.not_in_stasis.add(snoop_id)
        return channel_json(snoop_id, state="Up")
