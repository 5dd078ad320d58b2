"""The single writer of call records.

Calls hand it small operations (open, event, answered, close, and the rows
that belong to a call: queue stays, recordings, voicemails) that it applies
in order, batched: a batch is one multi-row statement (see :mod:`record_sql`)
on the writer's own connection, so hundreds of calls a second cost a few round
trips, and one call's rows always land in the order they happened. Every
operation carries an id and is written ``ON CONFLICT DO NOTHING``, so a batch
whose answer was lost is simply written again. If PostgreSQL is unreachable it
keeps the operations and retries: a record is delayed, never dropped. With a
spool file the operations kept during an outage are on disk too, and survive
the process (see :mod:`spool`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.calls import record_sql, spool
from callcenter.calls.record_ops import (
    NOT_IN_TIMELINE,
    AddEvent,
    Barrier,
    CloseCall,
    CloseLost,
    InsertRow,
    Op,
    describe,
)

log = logging.getLogger(__name__)

# SQLSTATE classes that refuse the data itself (bad values, constraints, a
# statement or schema the server rejects, cardinality, unsupported feature):
# writing it again cannot help. Any other server error (read-only standby after
# a failover, disk full, out of memory, deadlock, lock or statement timeout,
# shutdown, too many connections) is the database's passing state: wait, retry.
REFUSAL_CLASSES = frozenset({"21", "22", "23", "42", "0A"})
SLOW_WRITE_SECONDS = 10.0
# A statement that has not answered by then is given up and written again on a
# new connection (it lands once): a server that vanished without a reset (power
# lost) would otherwise hold the writer for good.
STATEMENT_TIMEOUT_SECONDS = 60.0
# How long a call's end waits for its record's close to commit (see close_call).
CLOSE_WAIT_SECONDS = 5.0
# How long the writer waits for more operations once one arrives. A round trip
# costs the service more CPU (its socket write, the wake-up) than the rows in
# it: at 50 calls/s (bench_recorder) the writer's CPU per call was 0.44 ms with
# 20 ms batches and 0.14 ms with 50 ms ones. A call's close waits that much
# longer for its commit; nobody is on the line by then.
LINGER_SECONDS = 0.05


class Observer(Protocol):
    """A latency histogram (prometheus_client's Histogram is one)."""

    def observe(self, amount: float) -> None: ...


Connector = Callable[[URL], Awaitable[asyncpg.Connection]]


class ConnectionLost(ConnectionError):
    """The writer's connection closed under a statement: whether it was
    committed is unknown, so the batch is written again (it lands once)."""


async def connect(url: URL) -> asyncpg.Connection:
    """The writer's own connection, to the engine's database. Not from the
    pool: it is held for good, so no checkout ping before every batch."""
    opts: dict[str, Any] = url.translate_connect_args(username="user")
    opts.update(url.query)
    for sqlalchemy_only in ("prepared_statement_cache_size", "async_fallback"):
        opts.pop(sqlalchemy_only, None)
    return await asyncpg.connect(**opts)


class CallRecorder:
    def __init__(
        self,
        engine: AsyncEngine,
        batch_size: int = 500,
        spool_path: Path | None = None,
        write_seconds: Observer | None = None,
        linger: float = LINGER_SECONDS,
    ) -> None:
        self.engine = engine  # where to connect (its URL); a new one is used on reconnect
        self.batch_size = batch_size
        self.linger = linger
        self.write_seconds = write_seconds  # each batch's time in the database
        self.connect: Connector = connect
        self._conn: asyncpg.Connection | None = None
        self._conn_engine: AsyncEngine | None = None
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
        if type(op) is AddEvent and op.kind in NOT_IN_TIMELINE:
            return
        self._idle.clear()
        if self._spool is not None:
            self._spool.keep(op)
        self._queue.put_nowait(op)

    def insert(self, table: Any, values: dict[str, Any]) -> None:
        """Queue a row of ``table`` (see :class:`InsertRow`)."""
        self.submit(InsertRow(table, values))

    async def close_call(self, op: CloseCall, wait: float = CLOSE_WAIT_SECONDS) -> None:
        """Queue the close and wait until it is committed, or ``wait`` seconds:
        it is queued (and spooled) either way, and a call that ended must not
        hold its place under the call cap while PostgreSQL is away."""
        op.done = asyncio.get_running_loop().create_future()
        self.submit(op)
        await asyncio.wait({op.done}, timeout=wait)

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

    def spooled(self) -> int:
        """Operations on disk, owed to the database (a gauge reads it; no side effects)."""
        return self._spool.kept() if self._spool is not None else 0

    def close(self) -> None:
        """The writer has stopped: release its connection and the spool (its
        contents stay on disk)."""
        self._drop_connection()
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
            batch = self._in_flight = [await self._queue.get()]
            if self.linger > 0 and self._queue.qsize() < self.batch_size:
                await asyncio.sleep(self.linger)  # let a few more come: fewer, fuller batches
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = batch
            try:
                await self._write_retrying(batch)
            except Exception as exc:
                log.error(
                    "batch rejected (%s); writing its %d operations one by one",
                    _describe(exc),
                    len(batch),
                )
                for i, op in enumerate(batch):
                    self._in_flight = batch[i:]  # what is written is not spooled again
                    try:
                        await self._write_retrying([op])
                    except Exception as exc:
                        log.error(
                            "call record operation dropped: %s (%s)", describe(op), _describe(exc)
                        )
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
        """Write ``ops`` (again if need be: they land once), waiting out the
        database's absence; raises what the database refuses."""
        delay = 0.2
        reconnected = False
        while True:
            try:
                await self._write_watched(ops)
                self.healthy = True
                return
            except Exception as exc:
                if not _unreachable(exc):
                    raise
                if isinstance(exc, ConnectionLost) and not reconnected:
                    # A connection closed by the server (idle timeout, restart of
                    # a pooler) is not yet an outage: a new one at once.
                    reconnected = True
                    log.info("record writer reconnecting: %s", exc)
                    continue
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
        statements = record_sql.statements(batch)  # a bad operation fails here: a refusal
        conn = await self._connection()
        started = time.perf_counter()
        try:
            for statement in statements:
                status = await conn.execute(
                    statement.sql, *statement.args, timeout=STATEMENT_TIMEOUT_SECONDS
                )
                lost = statement.lost
                if lost is not None and lost.done is not None and not lost.done.done():
                    lost.done.set_result(int(status.rsplit(" ", 1)[-1]))
        except asyncio.CancelledError:
            self._drop_connection()  # cut mid-statement: not reusable
            raise
        except TimeoutError as exc:
            self._drop_connection()  # unanswered: its state is unknown
            raise ConnectionLost(f"no answer within {STATEMENT_TIMEOUT_SECONDS:g} s") from exc
        except Exception as exc:
            if conn.is_closed():
                self._conn = None
                raise ConnectionLost(f"{type(exc).__name__}: connection closed") from exc
            raise
        if self.write_seconds is not None:
            self.write_seconds.observe(time.perf_counter() - started)
        self.written += len(batch)
        for op in batch:
            _resolve(op)

    async def _connection(self) -> asyncpg.Connection:
        """The writer's connection, made again after it was lost (or when the
        engine to use was changed)."""
        if self._conn is not None and (
            self._conn.is_closed() or self._conn_engine is not self.engine
        ):
            self._drop_connection()
        if self._conn is None:
            engine = self.engine
            self._conn = await self.connect(engine.url)
            self._conn_engine = engine
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None


def _unreachable(exc: BaseException) -> bool:
    """The database is away (refused, dropped, restarting, full), rather than
    refusing the data. asyncpg's server errors all arrive as plain DBAPIError:
    their SQLSTATE tells which."""
    if isinstance(exc, OSError | ConnectionError | PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return _passing(exc.sqlstate)
    if isinstance(exc, asyncpg.InterfaceError):
        return "connection is closed" in str(exc)
    if not isinstance(exc, DBAPIError):
        return False  # our own (a value record_sql cannot encode): a refusal
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        return True
    return _passing(getattr(exc.orig, "sqlstate", None))


def _passing(sqlstate: str | None) -> bool:
    """A server error that a later attempt may not meet (see REFUSAL_CLASSES)."""
    return not sqlstate or sqlstate[:2] not in REFUSAL_CLASSES


def _describe(exc: BaseException) -> str:
    """An error for a log line, without the values it may quote: server and
    driver messages can carry a caller's number (a duplicate key, a bad argument)."""
    if isinstance(exc, asyncpg.PostgresError):
        where = exc.constraint_name or exc.column_name or exc.table_name
        return f"{type(exc).__name__} {exc.sqlstate}" + (f" on {where}" if where else "")
    if isinstance(exc, ValueError | TypeError):  # ours: names only
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _resolve(op: Op) -> None:
    """Wake whoever waits for ``op``; a dropped operation wakes them too."""
    done = getattr(op, "done", None)
    if done is not None and not done.done():
        if isinstance(op, CloseLost):
            done.set_result(0)
        else:
            done.set_result(None)
