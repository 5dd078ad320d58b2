"""Reading the access log: filters, pages, and batches for its export.

``subject_id`` finds the rows about one record: the reads of it alone and
the lists, searches and exports that showed it among others (their
``detail.ids``), so "who saw this citizen's ticket" is one query.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.audit.access_log import Action, Subject
from callcenter.db.models import AccessLog
from callcenter.tickets.privacy import mask_phone, mask_text

COLUMNS = (
    AccessLog.id,
    AccessLog.at,
    AccessLog.actor,
    AccessLog.role,
    AccessLog.client_addr,
    AccessLog.subject,
    AccessLog.subject_id,
    AccessLog.action,
    AccessLog.detail,
    AccessLog.reason,
)


class AccessQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    actor: str | None = Field(None, max_length=64)
    subject: Subject | None = None
    subject_id: str | None = Field(None, max_length=128)
    action: Action | None = None
    since: AwareDatetime | None = Field(None, alias="from")  # inclusive
    until: AwareDatetime | None = Field(None, alias="to")  # exclusive
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(50, ge=1, le=500)

    @model_validator(mode="after")
    def _times_in_order(self) -> AccessQuery:
        if self.since and self.until and self.since > self.until:
            raise ValueError("from is after to")
        return self

    def filters(self) -> dict[str, Any]:
        """The filters given, as logged when the log itself is read."""
        return self.model_dump(
            mode="json",
            by_alias=True,
            exclude_defaults=True,
            exclude={"page", "per_page", "format"},
        )


@dataclass(frozen=True, slots=True)
class AccessPage:
    total: int
    rows: list[Row[Any]]


def build(query: AccessQuery) -> Select[Any]:
    stmt = select(*COLUMNS)
    if query.actor is not None:
        stmt = stmt.where(AccessLog.actor == query.actor)
    if query.subject is not None:
        stmt = stmt.where(AccessLog.subject == query.subject.value)
    if query.subject_id is not None:
        stmt = stmt.where(
            or_(
                AccessLog.subject_id == query.subject_id,
                AccessLog.detail.contains({"ids": [query.subject_id]}),
            )
        )
    if query.action is not None:
        stmt = stmt.where(AccessLog.action == query.action.value)
    if query.since is not None:
        stmt = stmt.where(AccessLog.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AccessLog.at < query.until)
    return stmt.order_by(AccessLog.at.desc(), AccessLog.id.desc())


class AccessLogReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def page(self, query: AccessQuery) -> AccessPage:
        stmt = build(query)
        async with self.sessions() as session:
            total = await session.scalar(
                select(func.count()).select_from(stmt.order_by(None).subquery())
            )
            rows = await session.execute(
                stmt.offset((query.page - 1) * query.per_page).limit(query.per_page)
            )
            return AccessPage(total or 0, list(rows))

    async def count(self, query: AccessQuery) -> int:
        stmt = build(query).order_by(None)
        async with self.sessions() as session:
            return await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0

    async def batches(
        self, query: AccessQuery, *, limit: int, batch: int = 1000
    ) -> AsyncGenerator[Sequence[Row[Any]], None]:
        """Every match, newest first, through a server-side cursor (for the export)."""
        async with self.sessions() as session:
            stmt = build(query).limit(limit).execution_options(yield_per=batch)
            result = await session.stream(stmt)
            async for rows in result.partitions():
                yield rows


def masked_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """What a reader who sees citizens masked may see of an entry: the search
    filters another user typed (a caller's phone or name) masked like the data."""
    filters = detail.get("filters")
    if not isinstance(filters, dict) or not isinstance(filters.get("caller"), str):
        return detail
    caller: str = filters["caller"]
    looks_like_phone = any(c.isdigit() for c in caller)
    hidden = mask_phone(caller) if looks_like_phone else mask_text(caller, 1)
    return {**detail, "filters": {**filters, "caller": hidden}}


def entry_view(row: Row[Any], *, masked: bool) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": _iso(row.at),
        "actor": row.actor,
        "role": row.role,
        "client_addr": row.client_addr,
        "subject": row.subject,
        "subject_id": row.subject_id,
        "action": row.action,
        "detail": masked_detail(row.detail) if masked else row.detail,
        "reason": row.reason,
    }


def _iso(at: datetime) -> str:
    return at.isoformat()
