"""Timers the domain schedules (wrap-up ends, ring limits), behind one small seam.

Production uses the event loop's ``call_later``; tests pass a hand-driven
timer wheel so nobody sleeps through a real wrap-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class LoopTimers:
    """The running event loop's timers."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)
