"""知识库: answers agents give at once, searched in Chinese and ranked.

An entry is valid from one day to another (a policy that expires stops being
found); search returns the entries valid on the day asked, best match first.
Changes are versioned so two editors cannot overwrite each other silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.db.models import Department, KbEntry
from callcenter.tickets.textsearch import to_query, to_vector
from callcenter.tickets.workflow import TicketError


class KbNotFound(TicketError):
    title = "No such knowledge base entry"


class KbInvalid(TicketError):
    title = "Invalid knowledge base entry"


class KbChanged(TicketError):
    title = "The entry changed meanwhile"


@dataclass(frozen=True, slots=True)
class KbDraft:
    question: str
    answer: str
    valid_from: date
    valid_to: date | None = None
    department_code: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class KbHit:
    entry: KbEntry
    rank: float


def valid_on(day: date) -> ColumnElement[bool]:
    return (KbEntry.valid_from <= day) & or_(KbEntry.valid_to.is_(None), KbEntry.valid_to >= day)


class KnowledgeBase:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]
    ) -> None:
        self.sessions = sessions
        self.clock = clock

    async def add(self, editor: str, draft: KbDraft) -> KbEntry:
        async with self.sessions.begin() as session:
            await self._check(session, draft)
            now = self.clock()
            entry = KbEntry(created_at=now, version=1)
            self._fill(entry, editor, draft, now)
            session.add(entry)
            await session.flush()
            await session.refresh(entry, ["search_vector"])
        return entry

    async def update(
        self, editor: str, entry_id: int, draft: KbDraft, expected_version: int
    ) -> KbEntry:
        async with self.sessions.begin() as session:
            entry = await session.get(KbEntry, entry_id, with_for_update=True)
            if entry is None:
                raise KbNotFound(f"no knowledge base entry {entry_id}")
            if entry.version != expected_version:
                raise KbChanged(
                    f"entry {entry_id} is at version {entry.version}, not {expected_version}"
                )
            await self._check(session, draft)
            self._fill(entry, editor, draft, self.clock())
            entry.version += 1
            await session.flush()
            await session.refresh(entry, ["search_vector"])
        return entry

    async def get(self, entry_id: int) -> KbEntry:
        async with self.sessions() as session:
            entry = await session.get(KbEntry, entry_id)
        if entry is None:
            raise KbNotFound(f"no knowledge base entry {entry_id}")
        return entry

    async def search(self, text: str, day: date, limit: int = 10) -> list[KbHit]:
        """Entries valid on ``day`` sharing words with ``text``, best first."""
        query = to_query(text)
        if query is None:
            return []
        rank = func.ts_rank(KbEntry.search_vector, query)
        async with self.sessions() as session:
            rows = await session.execute(
                select(KbEntry, rank)
                .where(KbEntry.search_vector.op("@@")(query), valid_on(day))
                .order_by(rank.desc(), KbEntry.id)
                .limit(limit)
            )
            return [KbHit(entry, float(score)) for entry, score in rows]

    @staticmethod
    def _fill(entry: KbEntry, editor: str, draft: KbDraft, now: datetime) -> None:
        entry.question = draft.question.strip()
        entry.answer = draft.answer.strip()
        entry.valid_from = draft.valid_from
        entry.valid_to = draft.valid_to
        entry.department_code = draft.department_code
        entry.tags = list(draft.tags)
        # Tags are searched too: an agent types the word the centre uses.
        entry.search_vector = to_vector(" ".join([draft.question, *draft.tags]), "A").op("||")(
            to_vector(draft.answer)
        )
        entry.updated_at = now
        entry.updated_by = editor

    @staticmethod
    async def _check(session: AsyncSession, draft: KbDraft) -> None:
        if not draft.question.strip() or not draft.answer.strip():
            raise KbInvalid("question and answer are required")
        if draft.valid_to is not None and draft.valid_to < draft.valid_from:
            raise KbInvalid(f"valid_to {draft.valid_to} is before valid_from {draft.valid_from}")
        code = draft.department_code  # "" names no department either
        if code is not None and await session.get(Department, code) is None:
            raise KbInvalid(f"unknown department {draft.department_code!r}")
