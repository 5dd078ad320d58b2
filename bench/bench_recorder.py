"""Call-record writing: the CallRecorder as it is against the way it was.

Both run in this process, one after the other, against the same PostgreSQL,
on the same simulated calls: each is opened, gets 15 timeline events, is
answered and closed, and leaves a queue stay row (19 operations). The
baseline is the writer before issue 11, kept here: the same queue and batches,
but each batch in a pooled transaction (a pre-ping on checkout, BEGIN, COMMIT)
with one SQLAlchemy statement built per operation (consecutive events in one
executemany). A calibration run without a database gives the bench's own cost
(the feed, the queue), subtracted for the net. Two runs each:

- burst: every call submitted at once; operations per second the writer keeps up with;
- paced: calls arriving at a steady rate (the profile's 50 calls/s), each call's
  operations spread over a second of its life, so batches are as small as in service.

For each it prints the Python CPU per call (this process: the writer, asyncpg,
the event loop), PostgreSQL's CPU per call (its backends on this database, read
from /proc: PostgreSQL must run on this machine) and the ratios. Usage:

    DATABASE_URL=postgresql+asyncpg://hotline:…@127.0.0.1:5432/hotline_recorder \\
        .venv/bin/python bench/bench_recorder.py [CALLS] [RATE] [SECONDS]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.calls.record_ops import (
    AddEvent,
    AgentStateLogged,
    CloseCall,
    CloseLost,
    InsertRow,
    MarkAnswered,
    Op,
    OpenCall,
)
from callcenter.calls.recorder import CallRecorder, _resolve
from callcenter.db.engine import make_engine
from callcenter.db.models import AgentStateLog, Call, CallEvent, Disposition, QueueCall

PREFIX = "bench-"
TICKS = os.sysconf("SC_CLK_TCK")
EVENTS_PER_CALL = 15
OPS_PER_CALL = EVENTS_PER_CALL + 4


def one_call(i: int, now: datetime) -> list[Op]:
    """What one IVR call that reached an agent submits, in order."""
    cid = uuid.uuid4()
    ops: list[Op] = [
        OpenCall(
            cid, f"{PREFIX}{cid}", f"{PREFIX}{cid}", "PJSIP/bench", f"1380{i:07d}", "", "12345", now
        )
    ]
    for k in range(EVENTS_PER_CALL):
        if k % 3 == 2:
            detail: dict[str, Any] = {"digit": str(k % 10), "duration_ms": 120}
            kind = "ChannelDtmfReceived"
        else:
            detail = {
                "playback": f"pb-{uuid.uuid4().hex}",
                "media": "sound:/hotline/prompts/zh/menu",
                "state": "playing" if k % 3 == 0 else "done",
            }
            kind = "PlaybackStarted" if k % 3 == 0 else "PlaybackFinished"
        ops.append(AddEvent(cid, now + timedelta(milliseconds=k), kind, detail))
        if k == 0:
            ops.append(MarkAnswered(cid, now))
    ops.append(
        InsertRow(
            QueueCall,
            {
                "id": uuid.uuid4(),
                "call_id": cid,
                "queue": "general",
                "priority": 0,
                "entered_at": now,
                "left_at": now,
                "wait_seconds": 12.5,
                "outcome": "answered",
                "agent_id": "1001",
                "answered_at": now,
                "talk_seconds": 60.0,
                "wrapup_seconds": 5.0,
                "transferred_to": None,
                "recording_id": None,
                "attempts": 1,
            },
        )
    )
    ops.append(CloseCall(cid, now, Disposition.ANSWERED, 16, "Normal Clearing", "queue"))
    return ops


def call_ops(n: int) -> list[Op]:
    """``n`` calls' operations, one call after the other (bench_spool uses it)."""
    now = datetime.now(UTC)
    return [op for i in range(n) for op in one_call(i, now)]


class OldRecorder(CallRecorder):
    """The writer before issue 11: a pooled transaction per batch, a statement per op."""

    async def _write(self, batch: list[Op]) -> None:
        started = time.perf_counter()
        async with self.engine.begin() as conn:
            events: list[dict[str, Any]] = []
            for op in batch:
                if isinstance(op, AddEvent):
                    events.append(
                        {"call_id": op.call_id, "at": op.at, "kind": op.kind, "detail": op.detail}
                    )
                    continue
                if events:
                    await conn.execute(insert(CallEvent), events)
                    events = []
                await _old_apply(conn, op)
            if events:
                await conn.execute(insert(CallEvent), events)
        if self.write_seconds is not None:
            self.write_seconds.observe(time.perf_counter() - started)
        self.written += len(batch)
        for op in batch:
            _resolve(op)


async def _old_apply(conn: AsyncConnection, op: Op) -> None:
    if isinstance(op, OpenCall):
        await conn.execute(
            pg_insert(Call)
            .values(
                id=op.call_id,
                channel_id=op.channel_id,
                linkedid=op.linkedid,
                channel_name=op.channel_name,
                caller_number=op.caller_number,
                caller_name=op.caller_name,
                dialled_number=op.dialled_number,
                started_at=op.started_at,
                flow=op.flow,
                flow_version=op.flow_version,
            )
            .on_conflict_do_nothing(index_elements=["channel_id"])
        )
    elif isinstance(op, InsertRow):
        await conn.execute(insert(op.table).values(**op.values))
    elif isinstance(op, AgentStateLogged):
        await conn.execute(
            insert(AgentStateLog).values(
                agent_id=op.agent_id, state=op.state, reason=op.reason, call_id=op.call_id, at=op.at
            )
        )
    elif isinstance(op, MarkAnswered):
        await conn.execute(
            update(Call)
            .where(Call.id == op.call_id, Call.answered_at.is_(None))
            .values(answered_at=op.at)
        )
    elif isinstance(op, CloseCall):
        await conn.execute(
            update(Call)
            .where(Call.id == op.call_id, Call.ended_at.is_(None))
            .values(
                ended_at=op.ended_at,
                disposition=op.disposition,
                hangup_cause=op.hangup_cause,
                hangup_cause_text=op.hangup_cause_text,
                last_stage=op.last_stage,
            )
        )
    elif isinstance(op, CloseLost):
        raise NotImplementedError


class NoWrites(CallRecorder):
    """Calibration: the same queue, batches and feed, and no database. What it
    costs is the bench's (and the queue's) own, subtracted to give the net."""

    async def _write(self, batch: list[Op]) -> None:
        self.written += len(batch)
        for op in batch:
            _resolve(op)


class Timings:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def observe(self, amount: float) -> None:
        self.seconds.append(amount)


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # this process's CPU seconds
    pg_cpu: float  # the database's backends' CPU seconds


async def _backend_cpu(engine: AsyncEngine) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend on this database (it runs
    on this machine: /proc tells)."""
    async with engine.connect() as conn:
        pids = (
            await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            )
        ).scalars()
        return {pid: _cpu_seconds(pid) for pid in pids}


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of process ``pid`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _run(recorder: CallRecorder, feed: Callable[[], Awaitable[int]]) -> Run:
    """Wall and CPU seconds to feed the writer and see everything committed."""
    writer = asyncio.create_task(recorder.run())
    recorder.submit(
        OpenCall(uuid.uuid4(), f"{PREFIX}warm-{uuid.uuid4()}", "", "", "", "", "", now())
    )
    await recorder.flush()  # connected (and the pool warm) before timing
    pg = await _backend_cpu(recorder.engine)
    wall, cpu = time.perf_counter(), time.process_time()
    await feed()
    await recorder.wait_idle()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pg_after = await _backend_cpu(recorder.engine)
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer
    recorder.close()
    return Run(wall, cpu, sum(t - pg.get(pid, 0.0) for pid, t in pg_after.items()))


def now() -> datetime:
    return datetime.now(UTC)


async def burst(recorder: CallRecorder, calls: int) -> Run:
    ops = call_ops(calls)

    async def feed() -> int:
        for op in ops:
            recorder.submit(op)
        return len(ops)

    return await _run(recorder, feed)


async def paced(recorder: CallRecorder, rate: float, seconds: float) -> tuple[Run, int]:
    """Calls arrive at ``rate`` a second; each call's operations are spread
    over a second of its life (a tick every 10 ms submits what is due)."""
    calls = int(rate * seconds)
    tick = 0.01
    due: dict[int, list[Op]] = {}
    start = datetime.now(UTC)
    for i in range(calls):
        ops = one_call(i, start)
        first = int(i / rate / tick)
        for k, op in enumerate(ops):
            due.setdefault(first + k * int(1 / tick) // len(ops), []).append(op)

    async def feed() -> int:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for n in range(max(due) + 1):
            for op in due.get(n, ()):
                recorder.submit(op)
            await asyncio.sleep(max(0.0, t0 + (n + 1) * tick - loop.time()))
        return calls

    return await _run(recorder, feed), calls


async def main(calls: int, rate: float, seconds: float) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit(
            "set DATABASE_URL to a migrated database of your own (rows are added, then removed)"
        )
    engine: AsyncEngine = make_engine(url)  # pool_pre_ping, as the service's
    writers: dict[str, Callable[[Timings], CallRecorder]] = {
        "no writes (calibration)": lambda t: NoWrites(engine, linger=0),
        "old (statement per op)": lambda t: OldRecorder(engine, write_seconds=t, linger=0),
        "new (statement per batch)": lambda t: CallRecorder(engine, write_seconds=t),
    }
    base, old, new = writers
    burst_cpu: dict[str, float] = {}
    burst_rate: dict[str, float] = {}
    paced_cpu: dict[str, float] = {}
    paced_pg: dict[str, float] = {}
    print(f"burst: {calls} calls x {OPS_PER_CALL} operations, submitted at once")
    for name, make in writers.items():
        timings = Timings()
        run = await burst(make(timings), calls)
        burst_cpu[name] = run.cpu / calls
        burst_rate[name] = calls * OPS_PER_CALL / run.wall
        line = (
            f"  {name:26s} {burst_rate[name]:9,.0f} ops/s  {calls / run.wall:7,.0f} calls/s  "
            f"Python CPU {burst_cpu[name] * 1e3:.3f} ms/call"
        )
        if name != base:
            line += (
                f" (net {(burst_cpu[name] - burst_cpu[base]) * 1e3:.3f})  "
                f"PostgreSQL CPU {run.pg_cpu / calls * 1e3:.3f} ms/call  "
                f"{len(timings.seconds)} batches"
            )
        print(line)
    print(f"paced: {rate:g} calls/s for {seconds:g} s, each call's operations over 1 s")
    for name, make in writers.items():
        timings = Timings()
        run, n = await paced(make(timings), rate, seconds)
        paced_cpu[name] = run.cpu / n
        paced_pg[name] = run.pg_cpu / n
        line = f"  {name:26s} Python CPU {paced_cpu[name] * 1e3:.3f} ms/call"
        if name != base:
            p50 = statistics.median(timings.seconds) * 1e3
            p99 = statistics.quantiles(timings.seconds, n=100)[98] * 1e3
            line += (
                f" (net {(paced_cpu[name] - paced_cpu[base]) * 1e3:.3f})  "
                f"PostgreSQL CPU {paced_pg[name] * 1e3:.3f} ms/call  {len(timings.seconds)} "
                f"batches, write p50 {p50:.2f} ms p99 {p99:.2f} ms"
            )
        print(line)
    async with engine.begin() as conn:
        await conn.execute(delete(Call).where(Call.channel_id.like(f"{PREFIX}%")))
    await engine.dispose()

    def net(cpu: dict[str, float], name: str) -> float:
        return cpu[name] - cpu[base]

    print(
        f"ratio old/new: burst ops/s {burst_rate[new] / burst_rate[old]:.1f}x; "
        f"net Python CPU per call: burst {net(burst_cpu, old) / net(burst_cpu, new):.1f}x less, "
        f"paced {net(paced_cpu, old) / net(paced_cpu, new):.1f}x less "
        f"(gross {paced_cpu[old] / paced_cpu[new]:.1f}x); "
        f"paced PostgreSQL CPU per call {paced_pg[old] / paced_pg[new]:.1f}x less"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(
            int(args[0]) if args else 2000,
            float(args[1]) if len(args) > 1 else 50.0,
            float(args[2]) if len(args) > 2 else 10.0,
        )
    )
