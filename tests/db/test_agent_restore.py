"""Agents take back their last logged state when the service starts again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from callcenter.acd.agents import AgentState
from callcenter.acd.restore import restore_agent_states
from callcenter.db.models import AgentStateLog
from tests.unit.acd_support import Harness, config

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_each_agent_takes_back_its_last_logged_state(db) -> None:
    suffix = uuid.uuid4().hex[:6]
    paused, free, out, talking = (f"{name}-{suffix}" for name in ("p", "f", "o", "t"))
    call = uuid.uuid4()
    log = [
        (paused, "available", None, None, 0),
        (paused, "paused", "training", None, 5),
        (free, "paused", "break", None, 1),
        (free, "available", None, None, 9),
        (out, "available", None, None, 2),
        (out, "logged_out", None, None, 3),
        (talking, "ringing", "general", call, 4),
        (talking, "on_call", None, call, 6),
    ]
    async with db.begin() as conn:
        for agent_id, state, reason, call_id, minutes in log:
            await conn.execute(
                insert(AgentStateLog).values(
                    agent_id=agent_id,
                    state=state,
                    reason=reason,
                    call_id=call_id,
                    at=T0 + timedelta(minutes=minutes),
                )
            )
    desk = Harness({a: config(a) for a in (paused, free, out, talking, f"new-{suffix}")})

    assert await restore_agent_states(desk.acd, db) == 3
    assert (desk[paused].state, desk[paused].reason) == (AgentState.PAUSED, "training")
    assert desk[free].state is AgentState.AVAILABLE
    assert desk[free].idle_since == T0 + timedelta(minutes=9)  # longest idle still holds
    assert desk[out].state is AgentState.LOGGED_OUT
    assert (desk[talking].state, desk[talking].call_id) == (AgentState.ON_CALL, str(call))
    assert desk[f"new-{suffix}"].state is AgentState.LOGGED_OUT  # never logged: out
    assert desk.changes == []  # nothing logged again
