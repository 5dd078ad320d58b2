"""Memory back to the system after a burst of calls.

A burst leaves glibc's heap holding the pages its calls' buffers used (event
JSON, HTTP bodies, per-call objects): freed, but kept by the allocator, so
RSS stays at the burst's height. Once the calls have mostly ended (a quarter
of the peak or fewer) ``malloc_trim(0)`` hands the free pages back; it runs in
a worker thread (ctypes drops the GIL) and costs a few milliseconds. Where
the C library has no ``malloc_trim`` (musl) nothing is done.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)

Trim = Callable[[], object]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """This process's resident set size."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def malloc_trim() -> Trim | None:
    """glibc's ``malloc_trim(0)``, or None when the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def call() -> object:
        return trim(0)

    return call


class MemoryReturn:
    """Watches the number of calls; after a burst has passed, trims the heap."""

    def __init__(
        self,
        active: Callable[[], int],
        trim: Trim | None = None,
        *,
        interval: float = 10.0,
        min_burst: int = 20,
        rss: Callable[[], int] = rss_bytes,
    ) -> None:
        self.active = active
        self.trim = trim if trim is not None else malloc_trim()
        self.interval = interval
        self.min_burst = min_burst  # fewer calls than this at the peak: not a burst
        self.rss = rss
        self.peak = 0
        self.trims = 0

    def due(self) -> bool:
        """Note the calls now; True when a burst of at least ``min_burst`` calls
        has come down to a quarter of its peak."""
        now = self.active()
        self.peak = max(self.peak, now)
        return self.peak >= self.min_burst and now <= self.peak // 4

    async def trim_now(self) -> None:
        if self.trim is None:
            return
        before = self.rss()
        await asyncio.to_thread(self.trim)
        after = self.rss()
        self.trims += 1
        log.info(
            "after a burst of %d calls: %.1f MB back to the system (RSS %.1f → %.1f MB)",
            self.peak,
            (before - after) / 2**20,
            before / 2**20,
            after / 2**20,
        )

    async def run(self) -> None:
        if self.trim is None:
            log.info("no malloc_trim in this C library: memory is not handed back after bursts")
            return
        while True:
            await asyncio.sleep(self.interval)
            if self.due():
                await self.trim_now()
                self.peak = self.active()
