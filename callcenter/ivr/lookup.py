"""Ticket status by query code, from a small YAML fixture.

Serves ``callcenter ivr simulate``, which runs without a database; the live
service answers the lookup node from the work-order database
(:class:`callcenter.tickets.lookup.DbTicketLookup`) behind the same interface.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from callcenter.ivr.port import TicketStatus
from callcenter.yamlfile import load_yaml, validate_document


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str = Field(pattern=r"^[a-z_]+$")
    updated: date | None = None
    # The phone given at intake: the caller calls from it or types its last four digits.
    phone: str = Field("", pattern=r"^[0-9+\-]{0,32}$")


class _Fixture(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tickets: dict[str, _Entry] = Field(default_factory=dict)


class FixtureLookup:
    def __init__(self, entries: dict[str, _Entry]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> FixtureLookup:
        if not path.exists():
            return cls({})
        doc = load_yaml(path)
        fixture = validate_document(doc, _Fixture, doc.data or {})
        return cls({str(k): v for k, v in fixture.tickets.items()})

    async def status(self, query_code: str) -> TicketStatus | None:
        entry = self._entries.get(query_code)
        if entry is None:
            return None
        return TicketStatus(query_code, entry.status, entry.updated, entry.phone)
