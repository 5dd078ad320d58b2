"""What keeping call records on disk costs while PostgreSQL is away.

The same simulated calls (bench_recorder.call_ops: open, 15 timeline events,
answered, a queue stay, close) are submitted to a CallRecorder whose database
refuses connections, once without a spool (memory only, the baseline) and once
with one (every operation encoded and appended), in this process. The ratio
says how much slower submitting is during an outage; calls/s says whether the
spool keeps up with the busiest hour (a large centre's peak is tens of calls a
second). No database is needed.
Usage:

    .venv/bin/python bench/bench_spool.py [CALLS]
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench_recorder import call_ops  # beside this file
from sqlalchemy.ext.asyncio import create_async_engine

from callcenter.calls.recorder import CallRecorder


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+asyncpg://hotline:hotline@127.0.0.1:{port}/hotline"


async def submit_during_outage(calls: int, spool_path: Path | None) -> float:
    """Seconds to submit ``calls`` calls' operations once the writer has found
    the database away (so a spool, if any, is taking every operation)."""
    engine = create_async_engine(refused_url())
    recorder = CallRecorder(engine, spool_path=spool_path)
    writer = asyncio.create_task(recorder.run())
    for op in call_ops(1):
        recorder.submit(op)
    for _ in range(500):
        if not recorder.healthy:
            break
        await asyncio.sleep(0.01)
    ops = call_ops(calls)
    start = time.perf_counter()
    for op in ops:
        recorder.submit(op)
    elapsed = time.perf_counter() - start
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    recorder.close()
    await engine.dispose()
    return elapsed


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        memory = await submit_during_outage(calls, None)
        spool_path = Path(folder) / "call-records.jsonl"
        disk = await submit_during_outage(calls, spool_path)
        size = spool_path.stat().st_size
    for name, seconds in (("memory only", memory), ("memory and spool", disk)):
        print(f"{name:18s} {calls} calls: {seconds:.3f} s ({calls / seconds:,.0f} calls/s)")
    print(f"spool: {size / calls:,.0f} bytes a call")
    print(f"ratio: spooling is {disk / memory:.1f}x the memory-only submit time")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
