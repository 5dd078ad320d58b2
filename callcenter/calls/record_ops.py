"""What the call record writer is asked to do: one small operation each.

Plain data, so the writer can keep them on disk (see :mod:`spool`) while
PostgreSQL is away. Each operation carries an id made when it is created and
kept in the spool: the writer inserts with ``ON CONFLICT DO NOTHING`` on it (or
on the row's own uuid), so writing an operation again (a batch whose COMMIT
answer was lost, a spool replayed after a crash) does not write its row twice.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcenter.ari.events import Channel
from callcenter.db.models import Disposition

# Operation ids: a random 128-bit base per process plus a counter. As unique
# as uuid4 (the bases are random) at a fraction of its cost: a busy centre
# makes thousands of operations a second.
_BASE = uuid.uuid4().int
_COUNTER = itertools.count()
_MASK = (1 << 128) - 1


def new_op_id() -> uuid.UUID:
    return uuid.UUID(int=(_BASE + next(_COUNTER)) & _MASK)


# Timeline kinds not worth a row: a multi-media prompt's step to its next file
# (its PlaybackStarted and PlaybackFinished say what was played, and how it
# ended). The writer drops them when submitted.
NOT_IN_TIMELINE = frozenset({"PlaybackContinuing"})


@dataclass(slots=True)
class OpenCall:
    call_id: uuid.UUID
    channel_id: str
    linkedid: str
    channel_name: str
    caller_number: str
    caller_name: str
    dialled_number: str
    started_at: datetime
    flow: str | None = None
    flow_version: str | None = None
    op_id: uuid.UUID = field(default_factory=new_op_id)

    @classmethod
    def of_channel(
        cls,
        call_id: uuid.UUID,
        channel: Channel,
        started_at: datetime,
        flow: str | None = None,
        flow_version: str | None = None,
    ) -> OpenCall:
        """The record of a call on ``channel`` as Asterisk announced it."""
        return cls(
            call_id=call_id,
            channel_id=channel.id,
            linkedid=channel.linkedid,
            channel_name=channel.name,
            caller_number=channel.caller_number,
            caller_name=channel.caller_name,
            dialled_number=channel.exten,
            started_at=started_at,
            flow=flow,
            flow_version=flow_version,
        )


@dataclass(slots=True)
class AddEvent:
    call_id: uuid.UUID
    at: datetime
    kind: str
    detail: dict[str, Any]
    op_id: uuid.UUID = field(default_factory=new_op_id)


@dataclass(slots=True)
class MarkAnswered:
    call_id: uuid.UUID
    at: datetime
    op_id: uuid.UUID = field(default_factory=new_op_id)


@dataclass(slots=True)
class CloseCall:
    call_id: uuid.UUID
    ended_at: datetime
    disposition: Disposition
    hangup_cause: int | None
    hangup_cause_text: str | None
    last_stage: str | None
    done: asyncio.Future[None] | None = field(default=None, repr=False)
    op_id: uuid.UUID = field(default_factory=new_op_id)


@dataclass(slots=True)
class CloseLost:
    """Close every open record whose channel is not in ``live_channels``."""

    live_channels: frozenset[str]
    ended_at: datetime
    done: asyncio.Future[int] | None = field(default=None, repr=False)


@dataclass(slots=True)
class AgentStateLogged:
    agent_id: str
    state: str
    reason: str | None
    call_id: uuid.UUID | None
    at: datetime
    op_id: uuid.UUID = field(default_factory=new_op_id)


@dataclass(slots=True)
class InsertRow:
    """A row that belongs to a call (queue stay, recording, voicemail, survey answer).

    It goes through the same queue as the call's own row, so it lands after it
    (foreign keys hold) and is kept and retried like it when PostgreSQL is away.
    """

    table: Any  # a mapped model class
    values: dict[str, Any]
    op_id: uuid.UUID = field(default_factory=new_op_id)


@dataclass(slots=True)
class Barrier:
    """Resolves once every operation submitted before it is committed."""

    done: asyncio.Future[None] | None = field(default=None, repr=False)


Op = (
    OpenCall
    | AddEvent
    | MarkAnswered
    | CloseCall
    | CloseLost
    | AgentStateLogged
    | InsertRow
    | Barrier
)


def describe(op: Op) -> str:
    """An operation for a log line: what and which call, no personal data."""
    if isinstance(op, InsertRow):
        return f"InsertRow into {getattr(op.table, '__tablename__', op.table)} ({op.op_id})"
    call = getattr(op, "call_id", None)
    return f"{type(op).__name__} of call {call}" if call else type(op).__name__
