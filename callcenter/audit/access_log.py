"""Every read of personal data on record before the data leaves (PIPL; 保密制度).

One row per read: who (user, role, client address), what (subject, its id,
the action; in ``detail`` the records shown, how many in full, filters and
row counts), when and why. Auditors and exports give a reason. The row is
committed before the answer is sent: when it cannot be written nothing is
sent (:class:`AccessLogUnavailable`, a 503). The database refuses to change
or delete rows (migration 0007).

Reads of masked data are logged too, with ``unmasked`` saying how many of
the records shown carried personal data in full: "who looked at this
citizen's ticket" has one answer whatever the reader's role.

Recordings log here as well: ``Subject.RECORDING`` with ``Action.PLAY`` in
the browser player and ``Action.DOWNLOAD`` for the file (a reason needed),
the byte range in ``detail``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import AccessLog
from callcenter.errors import CallCenterError
from callcenter.users.roles import Role

log = logging.getLogger(__name__)

# A log write slower than this answers 503 rather than holding the reader.
WRITE_TIMEOUT_SECONDS = 5.0
REASON_MAX = 500


class Subject(enum.StrEnum):
    TICKET = "ticket"
    CALL = "call"
    RECORDING = "recording"
    ACCESS_LOG = "access_log"
    USER = "user"


class Action(enum.StrEnum):
    READ = "read"  # one record
    LIST = "list"  # records shown in a list (callbacks, supervision, duplicates)
    SEARCH = "search"  # a search's page of results, with its filters
    EXPORT = "export"  # a file of records, with its filters and row count
    PLAY = "play"  # a recording heard in the browser
    DOWNLOAD = "download"  # a recording's file taken away
    LISTEN = "listen"  # a live call listened to, whispered in or barged into


# Taking records away needs a reason whoever you are; auditors give one for every read.
NEEDS_REASON = frozenset({Action.EXPORT, Action.DOWNLOAD})


class AccessLogError(CallCenterError):
    title = "Access log"


class ReasonRequired(AccessLogError):
    title = "Reason required"


class AccessLogUnavailable(AccessLogError):
    """The row could not be written, so the data is not sent."""

    title = "Access log unavailable"


@dataclass(frozen=True, slots=True)
class Reader:
    """Who is reading, from where, and why."""

    name: str
    role: Role
    client_addr: str | None = None
    reason: str | None = None

    def check_reason(self, action: Action) -> None:
        """Raises ReasonRequired when this reader must say why and has not."""
        if self.reason is not None:
            return
        if self.role is Role.AUDITOR:
            raise ReasonRequired("reason: required (auditors give one for every read): ?reason=…")
        if action in NEEDS_REASON:
            raise ReasonRequired(f"reason: required (every {action.value} needs one): ?reason=…")


def clean_reason(raw: str | None) -> str | None:
    """The reason as stored: stripped, empty meaning none; too long is refused."""
    reason = (raw or "").strip()
    if len(reason) > REASON_MAX:
        raise ReasonRequired(f"reason: at most {REASON_MAX} characters")
    return reason or None


@dataclass(frozen=True, slots=True)
class Entry:
    reader: Reader
    subject: Subject
    action: Action
    subject_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


class AccessWriter(Protocol):
    """Writes an entry and commits it, or raises AccessLogUnavailable."""

    async def record(self, entry: Entry) -> None: ...


class AccessLogWriter:
    """Each entry in its own short transaction, committed when ``record`` returns."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    async def record(self, entry: Entry) -> None:
        row = insert(AccessLog).values(
            at=self.clock(),
            actor=entry.reader.name,
            role=entry.reader.role.value,
            client_addr=entry.reader.client_addr,
            subject=entry.subject.value,
            subject_id=entry.subject_id,
            action=entry.action.value,
            detail=dict(entry.detail),
            reason=entry.reader.reason,
        )
        try:
            # An explicit execute and commit: a timeout then cancels the connect
            # itself (ORM flush at the end of session.begin() retries it uncancelled).
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS), self.sessions() as session:
                await session.execute(row)
                await session.commit()
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.error(
                "access log not written (%s %s %s by %s): %s",
                entry.action.value,
                entry.subject.value,
                entry.subject_id or "",
                entry.reader.name,
                _error_name(exc),
            )
            raise AccessLogUnavailable(
                "the access log cannot be written, so no personal data is sent: try again"
            ) from exc


def _error_name(exc: BaseException) -> str:
    """The error without its text: a database error's text carries the row's
    parameters (the phones and names a reader searched for), never for the log."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    name = type(exc).__name__
    if orig is not None:
        name += f" ({type(orig).__name__}{f' {code}' if code else ''})"
    return name
