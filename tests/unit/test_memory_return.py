"""After a burst of calls has passed, the heap's free pages go back to the system
(malloc_trim); not during the burst, not for a handful of calls, once per burst."""

from __future__ import annotations

import asyncio
import logging

import pytest

from callcenter.memory import MemoryReturn, malloc_trim, rss_bytes


class Calls:
    def __init__(self) -> None:
        self.now = 0


def test_a_trim_is_due_once_a_burst_comes_down_to_a_quarter_of_its_peak() -> None:
    calls = Calls()
    watch = MemoryReturn(lambda: calls.now, trim=lambda: 0, min_burst=20)
    for n, due in ((5, False), (100, False), (60, False), (26, False), (25, True)):
        calls.now = n
        assert watch.due() is due, n
    small = MemoryReturn(lambda: calls.now, trim=lambda: 0, min_burst=20)
    for n in (19, 0):
        calls.now = n
        assert small.due() is False  # a handful of calls is no burst


async def test_the_watch_trims_after_the_burst_and_logs_what_came_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds = [500, 400, 3]  # the calls the watch sees at each of its rounds
    read_all = asyncio.Event()
    sizes = iter([300 * 2**20, 120 * 2**20])

    def active() -> int:
        if rounds:
            return rounds.pop(0)
        read_all.set()  # read once more after the trim: the next burst's start
        return 3

    watch = MemoryReturn(active, trim=lambda: 1, interval=0.001, rss=lambda: next(sizes))
    with caplog.at_level(logging.INFO, logger="callcenter.memory"):
        task = asyncio.create_task(watch.run())
        try:
            async with asyncio.timeout(5):
                await read_all.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert watch.trims == 1 and watch.peak == 3
    assert "after a burst of 500 calls: 180.0 MB back to the system (RSS 300.0 → 120.0 MB)" in (
        caplog.text
    )


def test_this_machine_has_malloc_trim_and_a_resident_size() -> None:
    trim = malloc_trim()
    assert trim is not None  # glibc (Debian)
    trim()
    assert rss_bytes() > 10 * 2**20
