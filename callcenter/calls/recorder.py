"""The single writer of call records.

Calls hand it small operations (open, event, answered, close, and the rows
that belong to a call: queue stays, recordings, voicemails) that it applies
in order, batched into one transaction per round, so hundreds of calls a second
cost a few transactions, and one call's rows always land in the order they
happened. If PostgreSQL is unreachable it keeps the operations and retries:
a record is delayed, never dropped. With a spool file the operations kept
during an outage are on disk too, and survive the process (see :mod:`spool`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callcenter.calls import spool
from callcenter.calls.record_ops import (
    AddEvent,
    AgentStateLogged,
    Barrier,
    CloseCall,
    CloseLost,
    InsertRow,
    MarkAnswered,
    Op,
    OpenCall,
)
from callcenter.db.models import AgentStateLog, Call, CallEvent, Disposition

log = logging.getLogger(__name__)

# Too many connections; shut down by an admin or a crash; starting up or in recovery.
OUTAGE_SQLSTATES = frozenset({"53300", "57P01", "57P02", "57P03"})
SLOW_WRITE_SECONDS = 10.0


class CallRecorder:
    def __init__(
        self, engine: AsyncEngine, batch_size: int = 500, spool_path: Path | None = None
    ) -> None:
        self.engine = engine
        self.batch_size = batch_size
        self._queue: asyncio.Queue[Op] = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self.healthy = True
        self.written = 0
        self._in_flight: list[Op] = []  # the batch being written (no longer in the queue)
        self._spool = spool.Spool(spool_path) if spool_path is not None else None
        for op in self._spool.recover() if self._spool is not None else []:
            self.submit(op)  # a previous process's records go first

    # Producers ----------------------------------------------------------------
    def submit(self, op: Op) -> None:
        self._idle.clear()
        if self._spool is not None:
            self._spool.keep(op)
        self._queue.put_nowait(op)

    def insert(self, table: Any, values: dict[str, Any]) -> None:
        """Queue a row of ``table`` (see :class:`InsertRow`)."""
        self.submit(InsertRow(table, values))

    async def close_call(self, op: CloseCall) -> None:
        """Queue the close and wait until it is committed."""
        op.done = asyncio.get_running_loop().create_future()
        self.submit(op)
        await op.done

    def close_lost(self, live_channels: set[str], ended_at: datetime) -> asyncio.Future[int]:
        """Queue closing every open record whose channel is not live; the future
        gives how many. Not awaited by a restart: it may wait behind a replayed
        spool or an outage, and calls must be answered meanwhile."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.submit(CloseLost(frozenset(live_channels), ended_at, done))
        return done

    async def flush(self) -> None:
        """Wait until what was submitted so far is committed (not what comes after)."""
        op = Barrier(asyncio.get_running_loop().create_future())
        self.submit(op)
        await op.done  # type: ignore[misc]

    def backlog(self) -> int:
        """Operations not yet committed: queued, and the batch being written."""
        return self._queue.qsize() + len(self._in_flight)

    def spool_backlog(self) -> int:
        """Put every operation still waiting in the spool (the process is stopping
        with PostgreSQL away); how many are kept."""
        if self._spool is None:
            return 0
        self._spool_waiting(always=True)
        return self._spool.kept()

    def close(self) -> None:
        """The writer has stopped: release the spool (its contents stay on disk)."""
        if self._spool is not None:
            self._spool.file.close()

    def _waiting(self) -> list[Op]:
        """What the writer will write, in order: the batch in flight, then the queue."""
        queued = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for op in queued:
            self._queue.put_nowait(op)
        return [*self._in_flight, *queued]

    async def wait_idle(self) -> None:
        """Return once everything submitted so far is committed (drain mode)."""
        await self._idle.wait()

    # The writer task ----------------------------------------------------------
    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = batch
            try:
                await self._write_retrying(batch)
            except Exception:
                log.exception("batch rejected; writing its %d operations one by one", len(batch))
                for i, op in enumerate(batch):
                    self._in_flight = batch[i:]  # what is written is not spooled again
                    try:
                        await self._write_retrying([op])
                    except Exception:
                        log.exception("call record operation dropped: %r", op)
                        _resolve(op)
                    self._done([op])
            else:
                self._done(batch)
            if self._queue.empty():
                self._idle.set()

    def _done(self, ops: list[Op]) -> None:
        """``ops`` are written (or dropped as refused): no longer owed."""
        self._in_flight = self._in_flight[len(ops) :]
        if self._spool is not None:
            self._spool.committed(ops, healthy=self.healthy)

    async def _write_retrying(self, ops: list[Op]) -> None:
        """Write ``ops`` in one transaction, waiting out the database's absence;
        raises what the database refuses."""
        delay = 0.2
        while True:
            try:
                await self._write_watched(ops)
                self.healthy = True
                return
            except Exception as exc:
                if not _unreachable(exc):
                    raise
                self.healthy = False
                self._spool_waiting()  # once per outage: later ops are kept as submitted
                log.warning("database unavailable, %d records waiting: %r", len(ops), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _write_watched(self, ops: list[Op]) -> None:
        """``_write``; a database that neither answers nor fails within
        SLOW_WRITE_SECONDS (a partition: TCP retries for minutes) gets the
        backlog spooled meanwhile, so the process can die without losing it."""
        silent = asyncio.get_running_loop().call_later(SLOW_WRITE_SECONDS, self._silent)
        try:
            await self._write(ops)
        finally:
            silent.cancel()

    def _silent(self) -> None:
        log.warning("database silent for %g s; keeping the backlog on disk", SLOW_WRITE_SECONDS)
        self._spool_waiting()

    def _spool_waiting(self, always: bool = False) -> None:
        """Put what waits on disk, in order, when the spool is not already
        taking every operation as it is submitted (the outage's start, or the
        end of a pause after a disk error); ``always`` at shutdown."""
        if self._spool is not None and (always or self._spool.behind()):
            self._spool.start(self._waiting())  # kept ones are not kept twice
        elif self._spool is not None:
            self._spool.sync()

    async def _write(self, batch: list[Op]) -> None:
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
                await _apply(conn, op)
            if events:
                await conn.execute(insert(CallEvent), events)
        self.written += len(batch)
        for op in batch:
            _resolve(op)


async def _apply(conn: AsyncConnection, op: Op) -> None:
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
                agent_id=op.agent_id,
                state=op.state,
                reason=op.reason,
                call_id=op.call_id,
                at=op.at,
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
        result = await conn.execute(
            update(Call)
            .where(Call.ended_at.is_(None), Call.channel_id.not_in(op.live_channels))
            .values(ended_at=op.ended_at, disposition=Disposition.LOST)
        )
        if op.done is not None and not op.done.done():
            op.done.set_result(result.rowcount)


def _unreachable(exc: BaseException) -> bool:
    """The database is away (refused, dropped, restarting, full), rather than
    refusing the data. asyncpg's server errors all arrive as plain DBAPIError:
    their SQLSTATE tells which."""
    if isinstance(exc, OSError | ConnectionError | PoolTimeout | DisconnectionError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None) or ""
    return state.startswith("08") or state in OUTAGE_SQLSTATES


def _resolve(op: Op) -> None:
    """Wake whoever waits for ``op``; a dropped operation wakes them too."""
    done = getattr(op, "done", None)
    if done is not None and not done.done():
        if isinstance(op, CloseLost):
            done.set_result(0)
        else:
            done.set_result(None)
