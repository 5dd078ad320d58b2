"""``callcenter serve``: run until SIGTERM/SIGINT, then drain and exit."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from callcenter.config import Settings
from callcenter.web.app import build_app
from callcenter.web.keys import IVR

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # runs the cleanup contexts' start halves
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    await site.start()
    log.info("hotline service listening on http://%s:%d", settings.http.host, settings.http.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app[IVR].reload)  # ops' kill -HUP
    try:
        await stop.wait()
        log.info("stopping: finishing calls in progress")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    log.info("stopped")
