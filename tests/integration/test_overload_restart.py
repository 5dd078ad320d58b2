"""kill -9 of a capped service while a caller hears the busy prompt: the restarted
service hangs that caller up on the refusal's one record (overflow), instead of
serving it past the cap under a second record and leaving the first open."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import text

from tests.integration.stack import (
    CappedService,
    capped_fixture,
    closed_calls,
    sipp,
    timeline,
)

capped = capped_fixture(1)  # calls.max_calls = 1


async def refused_call(db, caller_prefix: str, timeout: float = 20.0) -> str:
    """The id of the test's call being refused, once its record is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with db.connect() as conn:
            found = await conn.scalar(
                text(
                    "SELECT c.id FROM calls c JOIN call_events e ON e.call_id = c.id "
                    "WHERE c.caller_number LIKE :p AND e.kind = 'overload_refused'"
                ),
                {"p": caller_prefix + "%"},
            )
        if found is not None:
            return str(found)
        await asyncio.sleep(0.1)
    raise AssertionError("no call was refused")


async def test_a_caller_hearing_the_busy_prompt_at_a_kill_is_hung_up_on_its_one_record(
    capped: CappedService, db, caller_prefix: str
) -> None:
    # Two callers: the first is served (the welcome, 7 s), the second is refused.
    callers = asyncio.create_task(sipp("caller_until_bye.xml", caller_prefix, calls=2, rate=50))
    refused = await refused_call(db, caller_prefix)
    capped.kill()  # during the busy prompt: no chance to hang the caller up
    await capped.start()

    result = await callers
    assert result.returncode == 0, result.output  # both answered, both hung up on
    calls = await closed_calls(db, caller_prefix, 2)
    assert len(calls) == 2, calls  # no second record for the refused caller
    [call] = [c for c in calls if str(c["id"]) == refused]
    assert (call["disposition"], call["last_stage"]) == ("overflow", "overload/busy_prompt")
    kinds = [k for k, _ in await timeline(db, call["id"])]
    assert "overload_taken_over" in kinds and "adopted" not in kinds, kinds
    # (no_leaks: no channel left in Asterisk)
