"""On a million tickets, a citizen's lookups (and the 督办 sweep) use indexes.

The tickets are generated in a scratch database migrated like the real one
and dropped afterwards, so the shared test database never carries them. The
plan, not the time, is asserted: a sequential scan here would be seconds per
call on a city's real table.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callcenter.tickets.oversight import SupervisionSweep
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(600)

MILLION = 1_000_000


def scans(plan: dict) -> list[tuple[str, str | None, str | None]]:
    """Every (node type, index name, table) in an EXPLAIN (FORMAT JSON) plan."""
    found = [(plan["Node Type"], plan.get("Index Name"), plan.get("Relation Name"))]
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


async def explain(conn, sql: str, params: dict) -> list[tuple[str, str | None, str | None]]:
    result = await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params)
    raw = result.scalar_one()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return scans(plan)


@pytest.fixture
async def scratch(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An empty database at the current migration, dropped when the test ends."""
    url = make_url(database_url)
    name = f"{url.database}_plans"
    scratch_url = url.set(database=name).render_as_string(hide_password=False)
    migrate = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "postgres.sh"), scratch_url, stdout=asyncio.subprocess.DEVNULL
    )
    assert await migrate.wait() == 0, "could not create the scratch database"
    engine = create_async_engine(scratch_url)
    try:
        yield engine
    finally:
        await engine.dispose()
        admin = create_async_engine(database_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def test_lookups_by_query_code_and_phone_use_indexes_on_a_million_tickets(scratch):
    async with scratch.connect() as conn:
        await conn.execute(
            text(
                """
                INSERT INTO tickets (id, query_code, channel, nature, subject, content,
                    caller_phone, address, district, status, created_at, updated_at,
                    due_at, version, flags)
                SELECT gen_random_uuid(), lpad((900000000 + n)::text, 9, '0'), 'phone',
                    (ARRAY['consultation','help','complaint','report'])[1 + n % 4],
                    '生成的工单', '批量生成用于检查查询计划',
                    '13' || lpad(((n * 7919) % 1000000000)::text, 9, '0'),
                    '地址' || (n % 5000), '区' || (n % 12),
                    (ARRAY['registered','dispatched','accepted','closed'])[1 + n % 4],
                    now() - (n || ' minutes')::interval, now(),
                    now() + ((n % 100) || ' hours')::interval, 1, '[]'
                FROM generate_series(1::bigint, :count) AS n
                """
            ),
            {"count": MILLION},
        )
        await conn.execute(text("ANALYZE tickets"))
        count = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar_one()
        assert count >= MILLION
        by_code = await explain(
            conn, "SELECT * FROM tickets WHERE query_code = :c", {"c": "900012345"}
        )
        assert ("Index Scan", "tickets_query_code_key", "tickets") in by_code, by_code
        by_phone = await explain(
            conn,
            "SELECT * FROM tickets WHERE caller_phone = :p ORDER BY created_at DESC LIMIT 20",
            {"p": "13000007919"},
        )
        assert any(index == "ix_tickets_caller_phone_created_at" for _, index, _ in by_phone), (
            by_phone
        )
        assert not any(node == "Seq Scan" for node, _, _ in by_code + by_phone)
        # The public lookup and the IVR ask exactly this.
        public = await explain(
            conn,
            "SELECT status FROM tickets WHERE query_code = :c AND caller_phone = :p",
            {"c": "900012345", "p": "13000007919"},
        )
        assert not any(node == "Seq Scan" for node, _, _ in public), public
        # The 督办 sweep's round reads indexes too, not the whole table each minute.
        candidates = SupervisionSweep._candidates(datetime.now(UTC)).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        sweep = await explain(conn, str(candidates), {})
        assert ("Seq Scan", None, "tickets") not in sweep, sweep
