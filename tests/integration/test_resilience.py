"""Restarts and shutdowns halfway through calls: no call without a closed record."""

from __future__ import annotations

import asyncio
import os
import stat

from sqlalchemy import text

from tests.dbproxy import DatabaseProxy
from tests.integration.stack import (
    ROOT,
    asterisk,
    closed_calls,
    sipp,
    timeline,
    until,
)


async def test_service_reconnects_after_asterisk_restart_and_closes_lost_calls(
    service, db, caller_prefix
):
    before = await service.wait_healthy()
    # A call is in its welcome prompt when Asterisk goes away.
    in_flight = asyncio.create_task(
        sipp("caller_hangs_up.xml", caller_prefix + "0", hangup_after_ms=30000, timeout_s=40)
    )
    await closed_calls_or_open(db, caller_prefix + "0")
    await asyncio.to_thread(asterisk, "restart")

    after = await service.wait_healthy()
    assert after["ari"]["connections"] > before["ari"]["connections"]
    [lost] = await closed_calls(db, caller_prefix + "0", 1)
    assert lost["disposition"] == "lost"
    assert lost["ended_at"] is not None
    in_flight.cancel()

    # And the next call is answered as usual.
    result = await sipp("caller_until_bye.xml", caller_prefix + "1")
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix + "1", 1)
    assert call["disposition"] == "completed"


async def closed_calls_or_open(db, prefix: str, timeout: float = 10.0) -> None:
    """Wait until the call's record exists (open): the call is being served."""
    from sqlalchemy import text

    async with asyncio.timeout(timeout):
        while True:
            async with db.connect() as conn:
                n = await conn.scalar(
                    text("SELECT count(*) FROM calls WHERE caller_number LIKE :p"),
                    {"p": prefix + "%"},
                )
            if n:
                return
            await asyncio.sleep(0.1)


async def test_dialplan_apologises_when_the_service_is_down(service, db, caller_prefix):
    await service.stop()
    # No application registered: Stasis() fails and the dialplan's fallback
    # answers, plays the apology and hangs up (the SIPp caller gets its BYE).
    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output
    await service.start()


async def test_sigterm_lets_calls_in_progress_finish(service, db, caller_prefix):
    await service.stop()
    await service.start(grace=30)
    call = asyncio.create_task(sipp("caller_until_bye.xml", caller_prefix))
    await closed_calls_or_open(db, caller_prefix)
    service.terminate()
    result = await call
    assert result.returncode == 0, result.output
    assert await service.wait_exit() == 0
    [record] = await closed_calls(db, caller_prefix, 1)
    assert record["disposition"] == "completed"  # the welcome was played to the end


async def test_sigterm_hangs_up_cleanly_after_the_grace_period(service, db, caller_prefix):
    await service.stop()
    await service.start(grace=1)
    call = asyncio.create_task(sipp("caller_until_bye.xml", caller_prefix))
    await closed_calls_or_open(db, caller_prefix)
    service.terminate()
    result = await call
    assert result.returncode == 0, result.output  # the caller got a proper BYE
    assert await service.wait_exit() == 0
    [record] = await closed_calls(db, caller_prefix, 1)
    assert record["disposition"] == "shutdown"
    assert record["last_stage"] == "simple/welcome"
    kinds = [kind for kind, _ in await timeline(db, record["id"])]
    assert "shutdown_hangup" in kinds
    await service.start()


async def test_killed_service_adopts_the_call_on_restart(service, db, caller_prefix):
    call = asyncio.create_task(sipp("caller_until_bye.xml", caller_prefix))
    await closed_calls_or_open(db, caller_prefix)
    service.kill()  # no chance to clean up: the channel stays in Stasis
    await service.start()
    result = await call
    assert result.returncode == 0, result.output  # the restarted service finished the call
    [record] = await closed_calls(db, caller_prefix, 1)
    assert record["disposition"] == "completed"
    kinds = [kind for kind, _ in await timeline(db, record["id"])]
    assert kinds.count("StasisStart") == 1
    assert "adopted" in kinds


async def test_a_call_taken_while_the_database_is_away_is_recorded_after_a_kill(
    service, db, database_url, caller_prefix
):
    """PostgreSQL goes away, a citizen calls and hangs up, the service is killed
    before the database returns: the next start writes the call, whole, once."""
    proxy = DatabaseProxy(database_url)
    await service.stop()
    service.database_url = await proxy.start()
    try:
        await service.start()
        proxy.cut()
        result = await sipp("caller_until_bye.xml", caller_prefix)
        assert result.returncode == 0, result.output  # the caller never noticed
        spool = service.record_spool
        await until(
            lambda: spool.exists() and "CloseCall" in spool.read_text(),
            20,
            "the call's record on disk, its close included",
        )
        assert stat.S_IMODE(spool.stat().st_mode) == 0o600  # callers' numbers: root's only
        service.kill()
        async with db.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM calls WHERE caller_number LIKE :p"),
                {"p": caller_prefix + "%"},
            )
        assert found == 0  # nothing reached the database before the kill

        proxy.restore()
        await service.start()
        [record] = await closed_calls(db, caller_prefix, 1)
        assert record["disposition"] == "completed"
        kinds = [kind for kind, _ in await timeline(db, record["id"])]
        assert kinds[0] == "StasisStart" and kinds[-1] == "StasisEnd"  # whole
        assert kinds.count("StasisStart") == 1 and "PlaybackFinished" in kinds  # and once
        await until(lambda: not spool.exists(), 10, "the spool removed once all is written")
    finally:
        service.kill()
        service.database_url = database_url
        await proxy.close()
        await service.start()


async def test_a_second_service_started_by_mistake_stops_before_touching_anything(
    service, db, caller_prefix
):
    second = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "callcenter"),
        "serve",
        "-c",
        str(service.config_file),
        env={**os.environ, "DATABASE_URL": service.database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(second.communicate(), 30)
    finally:
        if second.returncode is None:  # it started after all: it must not stay
            second.kill()
            await second.wait()
    assert second.returncode == 1
    assert "is another hotline service running?" in out.decode()
    # The first one still owns the calls.
    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output
    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "completed"
