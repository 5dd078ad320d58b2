"""Ticket export: building the file against a plain scan of the same rows.

The export reads the tickets through a server-side cursor in batches and
builds the file in a worker thread (callcenter/spreadsheets.py); the plain
scan reads the same rows the same way and throws them away. Both run in this
process, on the same generated tickets, in one run; the printed ratios are
export time over scan time, for CSV and XLSX, with the event loop's longest
stall while each export ran (a ticker every 5 ms), measured twice: with the
garbage collector as it comes, then with the start-up heap frozen
(``gc.freeze()``), which shows how much of the stall is full collections
walking every object the process loaded, not the export. Usage:

    DATABASE_URL=postgresql+asyncpg://hotline:hotline@127.0.0.1:5432/hotline_test \\
        .venv/bin/python bench/bench_export.py [ROWS]

The rows are inserted in a district of their own and deleted at the end.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import text

from callcenter.calendar import CalendarConfig, WorkCalendar
from callcenter.db.engine import make_engine, make_sessionmaker
from callcenter.db.models import Ticket
from callcenter.spreadsheets import Format, build
from callcenter.tickets import export
from callcenter.tickets.catalogue import Catalogue
from callcenter.tickets.deadlines import DeadlineConfig
from callcenter.tickets.finder import TicketFinder
from callcenter.tickets.search import TicketQuery
from callcenter.users.roles import Actor, Role
from callcenter.web.ticket_views import ticket_view

AGENT = Actor("bench-agent", Role.AGENT)
REPEAT = 3

SEED = """
INSERT INTO tickets (id, query_code, channel, nature, subject, content, caller_name,
    caller_phone, address, district, confidential, status, created_at, updated_at,
    stage_started_at, due_at)
SELECT gen_random_uuid(), :prefix || lpad(g::text, 7, '0'), 'phone', 'complaint',
    '小区停水', '阳光花园' || (g % 30) || '栋停水两天了，物业不给说法，请尽快处理',
    '王女士', '138' || lpad(g::text, 8, '0'), '阳光花园' || (g % 30) || '栋', :district,
    g % 100 = 5, 'dispatched', now() - g * interval '1 second', now(), now(),
    now() + interval '3 days'
FROM generate_series(1, :n) AS g
"""


class Ticker:
    """Ticks every 5 ms on the loop; remembers the longest wait beyond that."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - before - 0.005)


async def timed_export(
    finder: TicketFinder, query: TicketQuery, fmt: Format
) -> tuple[float, float]:
    now = datetime.now(UTC)

    def cells(row: Any) -> list[str]:
        return export.cells(ticket_view(cast(Ticket, row), AGENT, finder.deadlines, now))

    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    start = time.perf_counter()
    built = await build(
        finder.batches(AGENT, query, limit=10**9),
        cells,
        fmt,
        export.HEADINGS,
        title=export.SHEET_TITLE,
        max_rows=10**9,
        limit_name="bench",
    )
    with built:
        while await asyncio.to_thread(built.file.read, 256 * 1024):
            pass
    elapsed = time.perf_counter() - start
    ticking.cancel()
    return elapsed, ticker.worst


async def timed_scan(finder: TicketFinder, query: TicketQuery) -> tuple[float, int]:
    start = time.perf_counter()
    seen = 0
    async for batch in finder.batches(AGENT, query, limit=10**9):
        seen += len(batch)
    return time.perf_counter() - start, seen


async def main(rows: int) -> None:
    engine = make_engine(os.environ["DATABASE_URL"])
    sessions = make_sessionmaker(engine)
    calendar = WorkCalendar(CalendarConfig())
    finder = TicketFinder(
        sessions, calendar, DeadlineConfig(), Catalogue([], []), lambda: datetime.now(UTC)
    )
    district = f"bench-{uuid.uuid4().hex[:8]}"
    prefix = f"{uuid.uuid4().int % 10**8:08d}"
    async with engine.begin() as conn:
        await conn.execute(text(SEED), {"prefix": prefix, "district": district, "n": rows})
        await conn.execute(text("ANALYZE tickets"))
    query = TicketQuery(district=district)
    try:
        await timed_scan(finder, query)  # warm the cache
        for heap in ("garbage collector as it comes", "start-up heap frozen (gc.freeze)"):
            if "frozen" in heap:
                gc.collect()
                gc.freeze()
            scans, results = [], {}
            for fmt in Format:
                times, stalls = [], []
                for _ in range(REPEAT):
                    scan, seen = await timed_scan(finder, query)
                    assert seen == rows, seen
                    scans.append(scan)
                    took, stall = await timed_export(finder, query, fmt)
                    times.append(took)
                    stalls.append(stall)
                results[fmt] = (statistics.median(times), max(stalls))
            scan = statistics.median(scans)
            print(f"{rows} tickets, {heap}; plain scan: {scan:.3f} s")
            for fmt, (took, stall) in results.items():
                print(
                    f"  {fmt.value:4}: {took:.3f} s = {took / scan:.1f}x the scan "
                    f"({rows / took:,.0f} rows/s); longest loop stall {stall * 1000:.0f} ms"
                )
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM tickets WHERE district = :d"), {"d": district})
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
