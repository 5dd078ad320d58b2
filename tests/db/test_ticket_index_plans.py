"""On a million tickets, a citizen's lookups use indexes.

The tickets are generated inside a transaction that is rolled back, so the
shared test database is left as it was. The plan, not the time, is asserted:
a sequential scan here would be seconds per call on a city's real table.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.timeout(600)

MILLION = 1_000_000


def scans(plan: dict) -> list[tuple[str, str | None]]:
    """Every (node type, index name) in an EXPLAIN (FORMAT JSON) plan."""
    found = [(plan["Node Type"], plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        found += scans(child)
    return found


async def explain(conn, sql: str, params: dict) -> list[tuple[str, str | None]]:
    result = await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params)
    raw = result.scalar_one()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    return scans(plan)


async def test_lookups_by_query_code_and_phone_use_indexes_on_a_million_tickets(db):
    async with db.connect() as conn:
        transaction = await conn.begin()
        try:
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
            assert ("Index Scan", "tickets_query_code_key") in by_code, by_code
            by_phone = await explain(
                conn,
                "SELECT * FROM tickets WHERE caller_phone = :p ORDER BY created_at DESC LIMIT 20",
                {"p": "13000007919"},
            )
            assert any(index == "ix_tickets_caller_phone_created_at" for _, index in by_phone), (
                by_phone
            )
            assert not any(node == "Seq Scan" for node, _ in by_code + by_phone)
            # The public lookup and the IVR ask exactly this.
            public = await explain(
                conn,
                "SELECT status FROM tickets WHERE query_code = :c AND caller_phone = :p",
                {"c": "900012345", "p": "13000007919"},
            )
            assert not any(node == "Seq Scan" for node, _ in public), public
        finally:
            await transaction.rollback()
