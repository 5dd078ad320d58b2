"""A batch of record operations as the fewest statements PostgreSQL can take.

A batch becomes one statement (several between restarts' ``CloseLost``): a
``WITH`` of one multi-row ``INSERT … SELECT`` per table and one ``UPDATE …
FROM`` for the answers and closes, so a batch costs one round trip, and its SQL
text is the same from batch to batch of the same shape (the connection keeps
it prepared). Each part's rows travel as one JSON array of arrays, made by
orjson in one call: the service's CPU per row is a list, not a driver's
encoding of every value (PostgreSQL reads them with ``json_array_elements``).
Every insert is ``ON CONFLICT DO NOTHING`` on a key made when the operation was
submitted, and the updates only fill what is still empty, so a batch written
twice leaves what writing it once left.

All parts of a statement see the database as it was before it: an update
cannot see a call inserted beside it. So a call's answer and close ride on its
insert when they come in the same batch, and on the update too, for the replay
that finds the call already there (its insert then does nothing).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import JSON, Column, String, Text
from sqlalchemy import Enum as SaEnum
from sqlalchemy.dialects import postgresql

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
from callcenter.db.models import Disposition

CALL_COLUMNS = (
    ("id", "uuid"),
    ("channel_id", "text"),
    ("linkedid", "text"),
    ("channel_name", "text"),
    ("caller_number", "text"),
    ("caller_name", "text"),
    ("dialled_number", "text"),
    ("started_at", "timestamptz"),
    ("flow", "text"),
    ("flow_version", "text"),
    ("answered_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("disposition", "text"),
    ("hangup_cause", "int4"),
    ("hangup_cause_text", "text"),
    ("last_stage", "text"),
)
# What a close sets, after the call's answered_at and ended_at.
CLOSE_FIELDS = ("disposition", "hangup_cause", "hangup_cause_text", "last_stage")
UPDATE_COLUMNS = (
    ("id", "uuid"),
    ("answered_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("disposition", "text"),
    ("hangup_cause", "int4"),
    ("hangup_cause_text", "text"),
    ("last_stage", "text"),
)
EVENT_COLUMNS = (
    ("op_id", "uuid"),
    ("call_id", "uuid"),
    ("at", "timestamptz"),
    ("kind", "text"),
    ("detail", "jsonb"),
)
AGENT_STATE_COLUMNS = (
    ("op_id", "uuid"),
    ("agent_id", "text"),
    ("state", "text"),
    ("reason", "text"),
    ("call_id", "uuid"),
    ("at", "timestamptz"),
)
CLOSE_LOST_SQL = (
    "UPDATE calls SET ended_at = $1, disposition = $2 "
    # Only calls begun before the restart: a batch written again (its COMMIT's
    # answer lost) must not close calls opened after this operation.
    "WHERE ended_at IS NULL AND started_at <= $1 AND NOT (channel_id = ANY($3::text[]))"
)


@dataclass(slots=True)
class Statement:
    sql: str
    args: list[Any]
    lost: CloseLost | None = None  # the statement is this CloseLost (its count is wanted)


def statements(batch: Sequence[Op]) -> list[Statement]:
    """``batch`` as statements, in order; raises ValueError for an operation
    that cannot be written (an unknown column, a row without a key)."""
    out: list[Statement] = []
    part = _Segment()
    for op in batch:
        if isinstance(op, CloseLost):
            if not part.empty():
                out.append(part.statement())
                part = _Segment()
            out.append(
                Statement(
                    CLOSE_LOST_SQL,
                    [op.ended_at, Disposition.LOST.value, sorted(op.live_channels)],
                    lost=op,
                )
            )
        elif not isinstance(op, Barrier):
            part.add(op)
    if not part.empty():
        out.append(part.statement())
    return out


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pick(alias: str, i: int, kind: str) -> str:
    """Element ``i`` of a JSON row as a value of ``kind``."""
    if kind == "jsonb":
        return f"({alias}->{i})::jsonb"
    if kind == "text":
        return f"{alias}->>{i}"
    return f"CAST({alias}->>{i} AS {kind})"


def _insert_part(
    name: str, table: str, columns: Sequence[tuple[str, str]], conflict: str, n: int
) -> str:
    """``name AS (INSERT INTO table … SELECT FROM the rows in $n …)``."""
    picks = ", ".join(_pick("v", i, kind) for i, (_, kind) in enumerate(columns))
    names = ", ".join(_ident(col) for col, _ in columns)
    return (
        f"{name} AS (INSERT INTO {_ident(table)} ({names}) SELECT {picks} "
        f"FROM json_array_elements(${n}::json) AS v ON CONFLICT {conflict} DO NOTHING)"
    )


def _update_part(n: int) -> str:
    picks = ", ".join(
        f"{_pick('v', i, kind)} AS {col}" for i, (col, kind) in enumerate(UPDATE_COLUMNS)
    )
    closing = "calls.ended_at IS NULL AND w.ended_at IS NOT NULL"
    sets = ", ".join(
        [
            "answered_at = COALESCE(calls.answered_at, w.answered_at)",
            "ended_at = COALESCE(calls.ended_at, w.ended_at)",
            *(f"{f} = CASE WHEN {closing} THEN w.{f} ELSE calls.{f} END" for f in CLOSE_FIELDS),
        ]
    )
    return (
        f"u AS (UPDATE calls SET {sets} "
        f"FROM (SELECT {picks} FROM json_array_elements(${n}::json) AS v) AS w "
        "WHERE calls.id = w.id AND ((calls.answered_at IS NULL AND w.answered_at IS NOT NULL)"
        f" OR ({closing})))"
    )


@dataclass(slots=True)
class _Rows:
    """The rows of one part of a statement."""

    columns: Sequence[tuple[str, str]]
    rows: list[Sequence[Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Table:
    """How a mapped table's rows are written: column types, conflict key."""

    name: str
    kinds: dict[str, str]
    conflict: str
    has_op_id: bool
    key: tuple[str, ...]


_TABLES: dict[Any, _Table] = {}


def _table(mapped: Any) -> _Table:
    known = _TABLES.get(mapped)
    if known is not None:
        return known
    table = mapped.__table__
    kinds = {column.name: _column_kind(column) for column in table.columns}
    key = tuple(c.name for c in table.primary_key.columns)
    has_op_id = "op_id" in kinds
    conflict = "(op_id)" if has_op_id else f"({', '.join(_ident(k) for k in key)})"
    known = _TABLES[mapped] = _Table(table.name, kinds, conflict, has_op_id, key)
    return known


def _json(rows: list[Sequence[Any]]) -> str:
    """Rows as JSON: uuids, times (with their offset; a naive one is UTC, as
    the driver took it), enums and nested details as they are."""
    return orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS).decode()


def _column_kind(column: Column[Any]) -> str:
    """The type a column's values are read as (strings as text: the insert's
    own cast then refuses one too long instead of cutting it)."""
    kind = column.type
    if isinstance(kind, JSON):
        return "jsonb"
    if isinstance(kind, String | Text | SaEnum):
        return "text"
    return str(kind.compile(dialect=_DIALECT)).lower()


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


class _Segment:
    """Operations gathered into one statement."""

    def __init__(self) -> None:
        self.opens: dict[Any, list[Any]] = {}  # call id → its calls row (folded)
        self.updates: dict[Any, list[Any]] = {}  # call id → answered/close values
        self.events = _Rows(EVENT_COLUMNS)
        self.agents = _Rows(AGENT_STATE_COLUMNS)
        self.inserts: dict[tuple[Any, tuple[str, ...]], _Rows] = {}

    def empty(self) -> bool:
        return (
            not (self.opens or self.updates or self.events.rows or self.agents.rows)
            and not self.inserts
        )

    def add(self, op: Op) -> None:
        kind = type(op)
        if kind is AddEvent:
            assert isinstance(op, AddEvent)
            self.events.rows.append((op.op_id, op.call_id, op.at, op.kind, op.detail))
        elif kind is OpenCall:
            assert isinstance(op, OpenCall)
            if op.call_id not in self.opens:
                self.opens[op.call_id] = [
                    op.call_id,
                    op.channel_id,
                    op.linkedid,
                    op.channel_name,
                    op.caller_number,
                    op.caller_name,
                    op.dialled_number,
                    op.started_at,
                    op.flow,
                    op.flow_version,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ]
        elif kind is MarkAnswered:
            assert isinstance(op, MarkAnswered)
            self._answered(op)
        elif kind is CloseCall:
            assert isinstance(op, CloseCall)
            self._closed(op)
        elif kind is AgentStateLogged:
            assert isinstance(op, AgentStateLogged)
            self.agents.rows.append((op.op_id, op.agent_id, op.state, op.reason, op.call_id, op.at))
        elif kind is InsertRow:
            assert isinstance(op, InsertRow)
            self._insert(op)
        else:
            raise ValueError(f"not a record operation: {op!r}")

    def _update_row(self, call_id: Any) -> list[Any]:
        row = self.updates.get(call_id)
        if row is None:
            row = self.updates[call_id] = [call_id, None, None, None, None, None, None]
        return row

    def _answered(self, op: MarkAnswered) -> None:
        opened = self.opens.get(op.call_id)
        if opened is not None and opened[10] is None:
            opened[10] = op.at
        row = self._update_row(op.call_id)
        if row[1] is None:
            row[1] = op.at

    def _closed(self, op: CloseCall) -> None:
        close = [
            op.ended_at,
            Disposition(op.disposition).value,
            op.hangup_cause,
            op.hangup_cause_text,
            op.last_stage,
        ]
        opened = self.opens.get(op.call_id)
        if opened is not None and opened[11] is None:
            opened[11:16] = close
        row = self._update_row(op.call_id)
        if row[2] is None:
            row[2:7] = close

    def _insert(self, op: InsertRow) -> None:
        table = _table(op.table)
        names = tuple(op.values)
        unknown = [n for n in names if n not in table.kinds]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(map(repr, unknown))}")
        values = dict(op.values)
        if table.has_op_id:
            values.setdefault("op_id", op.op_id)
        elif any(values.get(k) is None for k in table.key):
            raise ValueError(
                f"a {table.name} row needs its key ({', '.join(table.key)}) when submitted, "
                "or it could be written twice"
            )
        names = tuple(values)
        rows = self.inserts.get((op.table, names))
        if rows is None:
            rows = self.inserts[(op.table, names)] = _Rows([(n, table.kinds[n]) for n in names])
        rows.rows.append(list(values.values()))

    def statement(self) -> Statement:
        args: list[str] = []
        if self.opens:
            args.append(_json(list(self.opens.values())))
        if self.updates:
            args.append(_json(list(self.updates.values())))
        if self.events.rows:
            args.append(_json(self.events.rows))
        if self.agents.rows:
            args.append(_json(self.agents.rows))
        inserts: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        for (mapped, _), rows in self.inserts.items():
            table = _table(mapped)
            inserts.append((table.name, table.conflict, tuple(rows.columns)))
            args.append(_json(rows.rows))
        shape = (
            bool(self.opens),
            bool(self.updates),
            bool(self.events.rows),
            bool(self.agents.rows),
            tuple(inserts),
        )
        return Statement(_sql(shape), list(args))


Shape = tuple[bool, bool, bool, bool, tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]]


@functools.lru_cache(maxsize=256)
def _sql(shape: Shape) -> str:
    """The statement's text for a batch of this shape: which parts it has (and
    an inserted table's columns). Built once; the same text each time lets the
    connection reuse its prepared statement."""
    opens, updates, events, agents, inserts = shape
    parts: list[str] = []
    if opens:
        parts.append(_insert_part("c", "calls", CALL_COLUMNS, "", len(parts) + 1))
    if updates:
        parts.append(_update_part(len(parts) + 1))
    if events:
        parts.append(_insert_part("e", "call_events", EVENT_COLUMNS, "(op_id)", len(parts) + 1))
    if agents:
        parts.append(
            _insert_part("a", "agent_state_log", AGENT_STATE_COLUMNS, "(op_id)", len(parts) + 1)
        )
    for n, (table, conflict, columns) in enumerate(inserts):
        parts.append(_insert_part(f"r{n}", table, columns, conflict, len(parts) + 1))
    return f"WITH {', '.join(parts)} SELECT 1"
