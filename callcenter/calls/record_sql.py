"""A batch of record operations as the fewest statements PostgreSQL can take.

A batch becomes one statement (several between restarts' ``CloseLost``): a
``WITH`` of one multi-row ``INSERT … SELECT FROM unnest(…)`` per table and one
``UPDATE … FROM unnest(…)`` for the answers and closes, so a batch costs one
round trip and its SQL text is the same from batch to batch of the same shape
(the connection keeps it prepared). Every insert is ``ON CONFLICT DO NOTHING``
on a key made when the operation was submitted, and the updates only fill what
is still empty, so a batch written twice leaves what writing it once left.

All parts of a statement see the database as it was before it: an update
cannot see a call inserted beside it. So a call's answer and close ride on its
insert when they come in the same batch, and on the update too, for the replay
that finds the call already there (its insert then does nothing).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
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
    "WHERE ended_at IS NULL AND NOT (channel_id = ANY($3::text[]))"
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


def _insert_part(
    name: str, table: str, columns: Sequence[tuple[str, str]], conflict: str, first: int
) -> str:
    """``name AS (INSERT INTO table … SELECT FROM unnest($first…) …)``."""
    arrays = ", ".join(
        f"${first + i}::{'text' if kind == 'jsonb' else kind}[]"
        for i, (_, kind) in enumerate(columns)
    )
    aliases = [f"c{i}" for i in range(len(columns))]
    picks = ", ".join(
        f"{a}::jsonb" if kind == "jsonb" else a
        for a, (_, kind) in zip(aliases, columns, strict=True)
    )
    names = ", ".join(_ident(col) for col, _ in columns)
    return (
        f"{name} AS (INSERT INTO {_ident(table)} ({names}) SELECT {picks} "
        f"FROM unnest({arrays}) AS v({', '.join(aliases)}) ON CONFLICT {conflict} DO NOTHING)"
    )


def _update_part(first: int) -> str:
    arrays = ", ".join(f"${first + i}::{kind}[]" for i, (_, kind) in enumerate(UPDATE_COLUMNS))
    names = ", ".join(col for col, _ in UPDATE_COLUMNS)
    closing = "calls.ended_at IS NULL AND v.ended_at IS NOT NULL"
    sets = ", ".join(
        [
            "answered_at = COALESCE(calls.answered_at, v.answered_at)",
            "ended_at = COALESCE(calls.ended_at, v.ended_at)",
            *(f"{f} = CASE WHEN {closing} THEN v.{f} ELSE calls.{f} END" for f in CLOSE_FIELDS),
        ]
    )
    return (
        f"u AS (UPDATE calls SET {sets} FROM unnest({arrays}) AS v({names}) "
        "WHERE calls.id = v.id AND ((calls.answered_at IS NULL AND v.answered_at IS NOT NULL)"
        f" OR ({closing})))"
    )


@dataclass(slots=True)
class _Rows:
    """Column-wise values for one part of a statement."""

    columns: Sequence[tuple[str, str]]
    values: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.values = [[] for _ in self.columns]

    def add(self, row: Sequence[Any]) -> None:
        for column, value in zip(self.values, row, strict=True):
            column.append(value)


@dataclass(slots=True)
class _Table:
    """How a mapped table's rows are written: column types, converters, conflict key."""

    name: str
    kinds: dict[str, str]
    convert: dict[str, Callable[[Any], Any]]
    conflict: str
    has_op_id: bool
    key: tuple[str, ...]


_TABLES: dict[Any, _Table] = {}


def _table(mapped: Any) -> _Table:
    known = _TABLES.get(mapped)
    if known is not None:
        return known
    table = mapped.__table__
    kinds: dict[str, str] = {}
    convert: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        kinds[column.name], conv = _column_kind(column)
        if conv is not None:
            convert[column.name] = conv
    key = tuple(c.name for c in table.primary_key.columns)
    has_op_id = "op_id" in kinds
    conflict = "(op_id)" if has_op_id else f"({', '.join(_ident(k) for k in key)})"
    known = _TABLES[mapped] = _Table(table.name, kinds, convert, conflict, has_op_id, key)
    return known


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an int past 64 bits) the standard library may take
        return json.dumps(value, ensure_ascii=False)


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _column_kind(column: Column[Any]) -> tuple[str, Callable[[Any], Any] | None]:
    """The array element type a column's values are sent as (strings as text:
    the insert's own cast then refuses one too long instead of cutting it)."""
    kind = column.type
    if isinstance(kind, JSON):
        return "jsonb", _json
    if isinstance(kind, SaEnum):
        return "text", _enum_value
    if isinstance(kind, String | Text):
        return "text", None
    return str(kind.compile(dialect=_DIALECT)).lower(), None


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
            not (self.opens or self.updates or self.events.values[0] or self.agents.values[0])
            and not self.inserts
        )

    def add(self, op: Op) -> None:
        kind = type(op)
        if kind is AddEvent:
            assert isinstance(op, AddEvent)
            self.events.add((op.op_id, op.call_id, op.at, op.kind, _json(op.detail)))
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
            self.agents.add((op.op_id, op.agent_id, op.state, op.reason, op.call_id, op.at))
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
        convert = table.convert
        rows.add([convert[n](v) if n in convert else v for n, v in values.items()])

    def statement(self) -> Statement:
        args: list[Any] = []
        if self.opens:
            args += _columnwise(list(self.opens.values()), len(CALL_COLUMNS))
        if self.updates:
            args += _columnwise(list(self.updates.values()), len(UPDATE_COLUMNS))
        events, agents = bool(self.events.values[0]), bool(self.agents.values[0])
        if events:
            args += self.events.values
        if agents:
            args += self.agents.values
        inserts: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        for (mapped, _), rows in self.inserts.items():
            table = _table(mapped)
            inserts.append((table.name, table.conflict, tuple(rows.columns)))
            args += rows.values
        shape = (bool(self.opens), bool(self.updates), events, agents, tuple(inserts))
        return Statement(_sql(shape), args)


def _columnwise(rows: list[list[Any]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


Shape = tuple[bool, bool, bool, bool, tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]]


@functools.lru_cache(maxsize=256)
def _sql(shape: Shape) -> str:
    """The statement's text for a batch of this shape: which parts it has (and
    an inserted table's columns). Built once; the same text each time lets the
    connection reuse its prepared statement."""
    opens, updates, events, agents, inserts = shape
    parts: list[str] = []
    first = 1
    if opens:
        parts.append(_insert_part("c", "calls", CALL_COLUMNS, "", first))
        first += len(CALL_COLUMNS)
    if updates:
        parts.append(_update_part(first))
        first += len(UPDATE_COLUMNS)
    if events:
        parts.append(_insert_part("e", "call_events", EVENT_COLUMNS, "(op_id)", first))
        first += len(EVENT_COLUMNS)
    if agents:
        parts.append(_insert_part("a", "agent_state_log", AGENT_STATE_COLUMNS, "(op_id)", first))
        first += len(AGENT_STATE_COLUMNS)
    for n, (table, conflict, columns) in enumerate(inserts):
        parts.append(_insert_part(f"r{n}", table, columns, conflict, first))
        first += len(columns)
    return f"WITH {', '.join(parts)} SELECT 1"
