"""A call's ordered, bounded event inbox with "await the next matching event"."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from callcenter.ari.errors import AriError
from callcenter.ari.events import ChannelDestroyed, ChannelHangupRequest, Event, StasisEnd


class ChannelGone(AriError):
    """The channel left Stasis or was destroyed while the call waited for something else."""

    def __init__(self, event: Event | None) -> None:
        super().__init__(f"channel gone ({event.type if event else 'lost'})")
        self.event = event


class InboxOverflow(AriError):
    """The call fell too far behind its events; it cannot be trusted any more."""


log = logging.getLogger(__name__)

Observer = Callable[[Event], None]


class Inbox:
    """Events for one channel, in arrival order.

    The single WebSocket reader calls :meth:`put` (never blocks); the call's own
    task consumes with :meth:`get` or :meth:`wait_for`. Every consumed event is
    shown to ``observer`` first, so a call timeline misses nothing that was
    skipped while waiting for something specific.
    """

    def __init__(self, key: str, maxsize: int = 1000, observer: Observer | None = None) -> None:
        self.key = key
        self.maxsize = maxsize
        self.observer = observer
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._overflowed = False
        self._lost = False
        self.ended: Event | None = None  # the StasisEnd/ChannelDestroyed seen, if any

    def put(self, event: Event) -> None:
        if len(self._events) >= self.maxsize:
            self._overflowed = True
        else:
            self._events.append(event)
        self._ready.set()

    def mark_lost(self) -> None:
        """The channel no longer exists but no event said so (e.g. Asterisk restarted)."""
        self._lost = True
        self._ready.set()

    def pending(self) -> int:
        return len(self._events)

    async def get(self, timeout: float | None = None) -> Event:
        """The next event; TimeoutError after ``timeout`` seconds."""
        if not self._events:
            if timeout is None:  # the common case: no timer to arm and cancel
                await self._until_ready()
            else:
                async with asyncio.timeout(timeout):
                    await self._until_ready()
        if self._overflowed:
            # An event was dropped: nothing after it can be trusted, so stop at once.
            raise InboxOverflow(f"{self.key}: more than {self.maxsize} events pending")
        event = self._events.popleft()
        if isinstance(event, StasisEnd | ChannelDestroyed) and self.ended is None:
            self.ended = event
        if self.observer is not None:
            try:
                self.observer(event)
            except Exception:  # bookkeeping must not cost the call its event
                log.exception("%s: observer failed on %s", self.key, event.type)
        return event

    async def _until_ready(self) -> None:
        while not self._events:
            if self._overflowed:
                return
            if self._lost:
                raise ChannelGone(None)
            self._ready.clear()
            await self._ready.wait()

    async def wait_for(
        self,
        match: Callable[[Event], bool],
        timeout: float | None = None,
    ) -> Event:
        """Consume events until one matches.

        Raises :class:`ChannelGone` if the channel is hung up or leaves first
        (unless the match accepts that event) and TimeoutError when ``timeout``
        passes. A hangup request counts: events such as PlaybackFinished can
        still arrive after it, but the channel is already on its way out.
        """
        async with asyncio.timeout(timeout):
            while True:
                event = await self.get()
                if match(event):
                    return event
                if isinstance(event, StasisEnd | ChannelDestroyed | ChannelHangupRequest):
                    raise ChannelGone(event)
