"""The one task that owns the ARI events WebSocket.

It connects, reads, parses and hands each event to the router; when the socket
drops it reconnects with exponential backoff. Asterisk does not replay events
missed during an outage, so every (re)connection calls ``on_connected``, where
the application re-lists channels and bridges and reconciles its state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp

from callcenter.ari.client import AriClient
from callcenter.ari.events import decode_event
from callcenter.ari.router import EventRouter

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]


class EventStream:
    def __init__(
        self,
        client: AriClient,
        router: EventRouter,
        on_connected: Hook | None = None,
        on_disconnected: Hook | None = None,
    ) -> None:
        self.client = client
        self.router = router
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.connected = asyncio.Event()
        self.connections = 0  # how many times a socket was opened
        self.events_received = 0

    async def run(self) -> None:
        """Read forever; returns only when cancelled."""
        settings = self.client.settings
        delay = settings.reconnect_min_delay
        while True:
            try:
                async with self.client.session.ws_connect(
                    self.client.events_url(),
                    heartbeat=settings.heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_close=settings.request_timeout),
                ) as ws:
                    self.connections += 1
                    delay = settings.reconnect_min_delay
                    log.info("ARI events connected (app %s)", settings.app)
                    self.connected.set()
                    if self.on_connected is not None:
                        await self._run_hook(self.on_connected)
                    await self._read(ws)
                log.warning("ARI events socket closed by Asterisk")
            except asyncio.CancelledError:
                raise
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.warning("ARI events connection failed: %r", exc)
            if self.connected.is_set():
                self.connected.clear()
                if self.on_disconnected is not None:
                    await self._run_hook(self.on_disconnected)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.reconnect_max_delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        dispatch = self.router.dispatch
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                if msg.type == aiohttp.WSMsgType.ERROR:
                    log.warning("ARI events socket error: %r", ws.exception())
                continue
            try:
                event = decode_event(msg.data)
            except (ValueError, TypeError, KeyError, AttributeError):
                log.exception("unparseable ARI event dropped: %.200s", msg.data)
                continue
            self.events_received += 1
            dispatch(event)

    async def _run_hook(self, hook: Hook) -> None:
        try:
            await hook()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ARI connection hook failed")
