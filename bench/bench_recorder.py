"""Call-record writing: the batching CallRecorder against one transaction per write.

Both run in this process against the same PostgreSQL, on the same simulated
calls (open, 8 timeline events, answered, close), so the printed ratio is
comparable from machine to machine. Usage:

    DATABASE_URL=postgresql+asyncpg://hotline:hotline@127.0.0.1:5432/hotline_test \\
        .venv/bin/python bench/bench_recorder.py [CALLS]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete

from callcenter.calls.record_ops import AddEvent, CloseCall, MarkAnswered, Op, OpenCall
from callcenter.calls.recorder import CallRecorder, _apply
from callcenter.db.engine import make_engine
from callcenter.db.models import Call, CallEvent, Disposition

PREFIX = "bench-"


def call_ops(n: int) -> list[Op]:
    ops: list[Op] = []
    now = datetime.now(UTC)
    for i in range(n):
        cid = uuid.uuid4()
        ops.append(
            OpenCall(
                cid,
                f"{PREFIX}{cid}",
                f"{PREFIX}{cid}",
                "PJSIP/bench",
                f"1380000{i:04d}",
                "",
                "12345",
                now,
            )
        )
        ops.extend(AddEvent(cid, now, f"Event{k}", {"k": k}) for k in range(8))
        ops.append(MarkAnswered(cid, now))
        ops.append(CloseCall(cid, now, Disposition.COMPLETED, 16, "Normal Clearing", "welcome"))
    return ops


async def naive(engine, ops: list[Op]) -> None:
    """Baseline: what a straightforward implementation does, one commit per write."""
    for op in ops:
        async with engine.begin() as conn:
            if isinstance(op, AddEvent):
                await conn.execute(
                    CallEvent.__table__.insert(),
                    [{"call_id": op.call_id, "at": op.at, "kind": op.kind, "detail": op.detail}],
                )
            else:
                await _apply(conn, op)


async def batched(engine, ops: list[Op]) -> None:
    recorder = CallRecorder(engine)
    writer = asyncio.create_task(recorder.run())
    for op in ops:
        recorder.submit(op)
    await recorder.wait_idle()
    writer.cancel()


async def main(calls: int) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("set DATABASE_URL to a migrated database (e.g. the _test one)")
    engine = make_engine(url)
    results = {}
    for name, fn in (("one transaction per write", naive), ("CallRecorder", batched)):
        ops = call_ops(calls)
        start = time.perf_counter()
        await fn(engine, ops)
        results[name] = time.perf_counter() - start
        print(
            f"{name:28s} {calls} calls, {len(ops)} writes: {results[name]:.3f} s "
            f"({calls / results[name]:.0f} calls/s)"
        )
    async with engine.begin() as conn:
        await conn.execute(delete(Call).where(Call.channel_id.like(f"{PREFIX}%")))
    await engine.dispose()
    ratio = results["one transaction per write"] / results["CallRecorder"]
    print(f"ratio: CallRecorder is {ratio:.1f}x the baseline's throughput")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
