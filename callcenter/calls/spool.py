"""The record writer's spool: operations kept on disk while PostgreSQL is away.

A backlog held only in memory dies with the process; the spool is replayed
when the service starts again, before anything new (the restart's
``CloseLost`` included), so a call opened during the outage lands with its
events instead of being lost. Each line is one JSON object:
``{"seq": n, "op": name, "fields": {...}}`` for an operation, and
``{"committed": n}`` once every operation up to ``n`` is in the database, so a
replay after a crash halfway through the catch-up writes nothing twice.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from callcenter import safefiles
from callcenter.calls.record_ops import (
    AddEvent,
    AgentStateLogged,
    CloseCall,
    InsertRow,
    MarkAnswered,
    Op,
    OpenCall,
    describe,
)
from callcenter.db.models import Base, Disposition

log = logging.getLogger(__name__)

# The operations that carry data. Barriers and CloseLost only make sense to the
# process that issued them (a restart reconciles with its own CloseLost).
KEPT: dict[str, type] = {
    cls.__name__: cls
    for cls in (OpenCall, AddEvent, MarkAnswered, CloseCall, AgentStateLogged, InsertRow)
}
ENUMS: dict[str, type[Enum]] = {"Disposition": Disposition}
DISK_RETRY_SECONDS = 30.0


class SpoolCorrupt(ValueError):
    """A spool line that cannot be read back; names the file and line."""


def keeps(op: Op) -> bool:
    return type(op).__name__ in KEPT


PLAIN = frozenset({str, int, float, bool, type(None)})  # written as they are


def _encode_value(value: Any) -> Any:
    if type(value) in PLAIN:  # most values: checked first (an outage spools every op)
        return value
    if isinstance(value, Enum) and ENUMS.get(type(value).__name__) is type(value):
        return {"$enum": type(value).__name__, "v": value.value}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, dict):
        return {"$dict": {k: _encode_value(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot spool a {type(value).__name__}: {value!r}")


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if "$date" in value:
        return date.fromisoformat(value["$date"])
    if "$uuid" in value:
        return uuid.UUID(value["$uuid"])
    if "$enum" in value:
        return ENUMS[value["$enum"]](value["v"])
    if "$dict" in value:
        return {k: _decode_value(v) for k, v in value["$dict"].items()}
    raise ValueError(f"unknown value {value!r}")


def encode(seq: int, op: Op) -> str:
    """One spool line for ``op`` (futures are not kept: nobody waits across a restart)."""
    values: dict[str, Any] = {}
    for f in fields(op):
        if f.name == "done":
            continue
        value = getattr(op, f.name)
        values[f.name] = value.__tablename__ if f.name == "table" else _encode_value(value)
    return json.dumps({"seq": seq, "op": type(op).__name__, "fields": values}, ensure_ascii=False)


def _decode_op(name: str, values: dict[str, Any]) -> Op:
    cls: Any = KEPT[name]
    decoded = {k: _decode_value(v) for k, v in values.items()}
    if cls is InsertRow:
        decoded["table"] = _mapped_class(values["table"])
    op: Op = cls(**decoded)
    return op


def _mapped_class(table_name: str) -> type:
    for mapper in Base.registry.mappers:
        if mapper.class_.__tablename__ == table_name:
            return mapper.class_
    raise ValueError(f"unknown table {table_name!r}")


@dataclass(frozen=True, slots=True)
class Recovered:
    ops: list[tuple[int, Op]]  # (seq, op) not yet committed, in order
    last_seq: int
    whole_bytes: int  # where the whole lines end (a line cut short follows)


def read(path: Path) -> Recovered:
    """The operations in ``path`` not yet committed.

    A last line cut short by a crash mid-write is skipped; any other line that
    cannot be read raises :class:`SpoolCorrupt` naming the file and line.
    """
    pending: list[tuple[int, Op]] = []
    committed = last_seq = 0
    data = safefiles.read_bytes(path)
    *lines, cut = data.split(b"\n")  # every whole line ends with a newline
    if cut:
        log.warning("%s:%d: a line cut short by a crash, skipped", path, len(lines) + 1)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
            if "committed" in entry:
                committed = max(committed, int(entry["committed"]))
                continue
            seq = int(entry["seq"])
            op = _decode_op(entry["op"], entry["fields"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SpoolCorrupt(f"{path}:{number}: {exc}") from exc
        last_seq = max(last_seq, seq)
        pending.append((seq, op))
    ops = [(s, op) for s, op in pending if s > committed]
    return Recovered(ops, last_seq, whole_bytes=len(data) - len(cut))


class SpoolFile:
    """Append-only lines; every write reaches the operating system at once
    (a killed process keeps them), and ``sync`` forces them to the disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def append(self, line: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Callers' numbers and names: the service's own, never through a link.
            fd = safefiles.open_append(self.path, mode=0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        self._file.write(line + "\n")
        self._file.flush()

    def sync(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """The process stops: what is in the file stays for the next start."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        """Everything in it is committed: start the next outage with a new file."""
        self.close()
        self.path.unlink(missing_ok=True)


class Spool:
    """The writer's disk copy of the operations waiting out an outage.

    Inactive while PostgreSQL answers (no disk I/O on the hot path); from the
    first failed write until the database answers again, every operation kept
    goes to the file in the order it will be written, and each committed batch
    is marked, so the file always tells what is still owed to the database.
    """

    def __init__(self, path: Path) -> None:
        self.file = SpoolFile(path)
        self.active = False
        self._seqs: dict[int, int] = {}  # id(op) → its line, until committed
        self._last_seq = 0
        self._on_disk = False  # a file exists that this process answers for
        self._unusable = False  # a file it may not touch (unreadable, not movable)
        self._paused_until = 0.0  # after a failed write (disk full): not every op
        # An op was skipped: keep none after it until ``start`` walks the
        # backlog again, so the file stays in the order things are written.
        self._gap = False

    def recover(self) -> list[Op]:
        """What a previous process left uncommitted, to be written before anything new.

        An unreadable file is renamed aside, never deleted: a person can read it.
        """
        path = self.file.path
        if not path.exists():
            return []
        try:
            recovered = read(path)
            if not recovered.ops:
                self.file.remove()
                return []
            # Appending after a line cut short would glue the next line to it.
            os.truncate(path, recovered.whole_bytes)
        except (OSError, SpoolCorrupt) as exc:
            self._set_aside(exc)
            return []
        log.warning("replaying %d call record operations from %s", len(recovered.ops), path)
        self._last_seq = recovered.last_seq
        self._on_disk = self.active = True
        for seq, op in recovered.ops:
            self._seqs[id(op)] = seq
        return [op for _, op in recovered.ops]

    def _set_aside(self, why: Exception) -> None:
        path = self.file.path
        aside = path.with_name(f"{path.name}.unreadable-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        try:
            path.rename(aside)
        except OSError as exc:
            self._unusable = True
            log.error(
                "record spool %s unreadable (%s) and cannot be moved aside (%s): "
                "left as it is, and no spool this run",
                path,
                why,
                exc,
            )
            return
        log.error("record spool not replayed, kept as %s for a person to read: %s", aside, why)

    def behind(self) -> bool:
        """Whether operations already waiting may be missing from the file."""
        return not self.active or (self._gap and time.monotonic() >= self._paused_until)

    def keep(self, op: Op) -> None:
        """Put ``op`` on disk if an outage is on (and it carries data, and is not there yet)."""
        if not self.active or self._unusable or not keeps(op) or id(op) in self._seqs:
            return
        if self._gap:
            return
        try:
            self.file.append(encode(self._last_seq + 1, op))
        except TypeError:
            log.exception("call record operation kept in memory only: %s", describe(op))
            return
        except OSError as exc:
            self._gap = True
            self._paused_until = time.monotonic() + DISK_RETRY_SECONDS
            log.error(
                "record spool %s cannot be written (%s): records wait in memory only; "
                "trying again in %g s",
                self.file.path,
                exc,
                DISK_RETRY_SECONDS,
            )
            return
        self._last_seq += 1
        self._seqs[id(op)] = self._last_seq
        self._on_disk = True

    def start(self, waiting: Iterable[Op]) -> None:
        """The outage begins: ``waiting`` (in the order it will be written) goes to disk."""
        self.active = True
        if time.monotonic() < self._paused_until:
            return  # the disk failed a moment ago: try again later
        self._gap = False
        for op in waiting:
            self.keep(op)
        self.sync()

    def sync(self) -> None:
        if self._on_disk:
            try:
                self.file.sync()
            except OSError:
                log.exception("record spool %s not synced", self.file.path)

    def committed(self, ops: Iterable[Op], healthy: bool) -> None:
        """``ops`` are written (or dropped as refused). Once the database answers
        again new operations stay in memory only; the file goes when nothing in
        it is owed any more."""
        if healthy:
            self.active = False
        if not self._on_disk:
            return
        seqs = [self._seqs.pop(id(op)) for op in ops if id(op) in self._seqs]
        try:
            if seqs:
                self.file.append(f'{{"committed": {max(seqs)}}}')
            if not self._seqs and not self.active:
                self.file.remove()
                self._on_disk = False
        except OSError:
            log.exception("record spool %s not updated", self.file.path)

    def kept(self) -> int:
        return len(self._seqs)
