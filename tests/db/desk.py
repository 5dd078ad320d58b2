"""Helpers shared by the work-order tests on the real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.tickets.changes import NewTicket
from callcenter.tickets.deadlines import Nature
from callcenter.users.roles import Actor, Role

SH = ZoneInfo("Asia/Shanghai")
AGENT = Actor("agent-1001", Role.AGENT)
LEAD = Actor("supervisor-1", Role.SUPERVISOR)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def water_outage(phone: str = "13800001111", **changes: object) -> NewTicket:
    fields: dict[str, object] = {
        "channel": "phone",
        "nature": Nature.COMPLAINT,
        "subject": "小区停水",
        "content": "阳光花园小区停水两天，物业不给说法",
        "caller_name": "王女士",
        "caller_phone": phone,
        "address": "阳光花园3栋",
        "district": "高新区",
    }
    return NewTicket(**{**fields, **changes})  # type: ignore[arg-type]


async def insert_call(db: AsyncEngine, at: datetime, caller: str = "13800001111") -> uuid.UUID:
    call_id = uuid.uuid4()
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO calls (id, channel_id, linkedid, caller_number, started_at) "
                "VALUES (:i, :c, :c, :n, :t)"
            ),
            {"i": call_id, "c": f"test-{call_id}", "n": caller, "t": at},
        )
    return call_id
