"""Background rounds: a job run on a timer that survives its own failures.

A round that fails (the database away for a moment) is logged and the next
one runs on time; only cancellation stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; again in %.0fs", what, seconds)
        await asyncio.sleep(seconds)
