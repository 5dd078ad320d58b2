"""``callcenter serve``: run until SIGTERM/SIGINT, then drain and exit."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket

from aiohttp import web

from callcenter.config import Settings
from callcenter.errors import ConfigError
from callcenter.web.app import build_app
from callcenter.web.keys import IVR

log = logging.getLogger(__name__)


def claim_port(host: str, port: int) -> socket.socket:
    """Bind the HTTP port before anything else starts: a second service started
    by mistake stops here, before it takes over the ARI application or replays
    the first one's record spool."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"http {host}:{port}: {exc.strerror}; is another hotline service running? (make status)"
        ) from exc
    sock.listen(128)
    return sock


async def serve(settings: Settings) -> None:
    sock = claim_port(settings.http.host, settings.http.port)
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # runs the cleanup contexts' start halves
    # What start-up loaded (modules, flows, catalogue) lives as long as the process:
    # out of the collector's reach, a full collection no longer walks it while calls
    # wait (bench/bench_export.py: the longest loop stall during an export 75 → 15 ms).
    gc.freeze()
    site = web.SockSite(runner, sock)
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
