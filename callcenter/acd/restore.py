"""Agents keep their state across a restart of the service.

Every change of an agent's state is logged (``agent_state_log``); at start
each agent takes back the last one: paused stays paused with its reason,
available stays available (with its idle time, so "longest idle" still
holds), logged out stays out. Ringing, talking and wrap-up are settled once
the calls Asterisk still has are known (``AcdService.settle_after_restart``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.acd.agents import AgentState
from callcenter.acd.service import AcdService

log = logging.getLogger(__name__)

# The state log may still have rows on their way (a spool replayed at start).
FLUSH_SECONDS = 5.0
READ_SECONDS = 5.0

_LAST = text(
    "SELECT DISTINCT ON (agent_id) agent_id, state, reason, call_id, at"
    " FROM agent_state_log ORDER BY agent_id, at DESC, id DESC"
)


@dataclass(frozen=True, slots=True)
class LastState:
    agent_id: str
    state: AgentState
    reason: str | None
    call_id: str | None
    at: datetime


async def last_states(engine: AsyncEngine) -> list[LastState]:
    async with engine.connect() as conn:
        rows = (await conn.execute(_LAST)).all()
    found = []
    for row in rows:
        try:
            state = AgentState(row.state)
        except ValueError:
            continue
        call_id = str(row.call_id) if row.call_id is not None else None
        found.append(LastState(row.agent_id, state, row.reason, call_id, row.at))
    return found


async def restore_agent_states(
    acd: AcdService, engine: AsyncEngine, flush: asyncio.Future[None] | None = None
) -> int:
    """Give each agent of the roster its last logged state; how many. A database
    that does not answer leaves everyone logged out, as a first start would."""
    if flush is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FLUSH_SECONDS):
                await flush
    try:
        async with asyncio.timeout(READ_SECONDS):  # a silent database must not hold up the start
            states = await last_states(engine)
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.error("agents' last states unreadable, all start logged out: %s", exc)
        return 0
    restored = 0
    for last in states:
        if last.agent_id in acd.agents and last.state is not AgentState.LOGGED_OUT:
            acd.restore(last.agent_id, last.state, last.reason, last.at, last.call_id)
            restored += 1
    log.info("agents' states restored: %d not logged out", restored)
    return restored
