"""Chinese text search: bigram tsvector with a GIN index against LIKE over the text.

The knowledge base and the duplicate check search Chinese text. PostgreSQL
has no Chinese parser, and the obvious fallback is ``content LIKE '%停水%'``,
which reads every row. Both run in this process, on the same generated rows
in a temporary table, for the same queries; the printed ratio is the LIKE
time over the index time. The rows are realistic requests with a district,
a place and a matter, so a query matches a few hundred of them. Usage:

    DATABASE_URL=postgresql+asyncpg://hotline:hotline@127.0.0.1:5432/hotline_test \\
        .venv/bin/python bench/bench_text_search.py [ROWS]
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from callcenter.db.engine import make_engine
from callcenter.tickets.textsearch import terms

PLACES = ["阳光花园", "幸福里小区", "建设路", "人民公园", "长江路", "市民中心", "滨江新城"]
MATTERS = [
    "停水两天了物业不给说法",
    "路灯坏了晚上一片漆黑",
    "烧烤摊噪音扰民到凌晨",
    "电梯经常故障有人被困",
    "垃圾桶满了没人清运",
    "井盖丢失很危险",
    "公交站牌被撞倒了",
    "餐馆油烟直排",
    "工地夜间施工",
    "违章停车堵住消防通道",
]
QUERIES = ["停水", "路灯不亮", "夜间施工噪音", "电梯困人", "油烟"]


def requests(n: int) -> list[str]:
    rng = random.Random(12345)
    return [
        f"{rng.choice(PLACES)}{rng.randint(1, 30)}栋{rng.choice(MATTERS)}，"
        f"{rng.choice(['请尽快处理', '希望有关部门管一管', '已经反映多次'])}"
        for _ in range(n)
    ]


async def timed(conn, sql: str, params: dict, repeat: int = 20) -> tuple[float, int]:
    start = time.perf_counter()
    found = 0
    for _ in range(repeat):
        found = (await conn.execute(text(sql), params)).scalar_one()
    return (time.perf_counter() - start) / repeat, found


async def main(rows: int) -> None:
    engine = make_engine(os.environ["DATABASE_URL"])
    async with engine.connect() as conn:
        await conn.execute(
            text("CREATE TEMP TABLE bench_text (id serial, content text, v tsvector)")
        )
        insert = text(
            "INSERT INTO bench_text (content, v) VALUES (:c, array_to_tsvector(:t))"
        ).bindparams(bindparam("t", type_=ARRAY(Text)))
        batch = [{"c": c, "t": terms(c)} for c in requests(rows)]
        await conn.execute(insert, batch)
        await conn.execute(text("CREATE INDEX ON bench_text USING gin (v)"))
        await conn.execute(text("ANALYZE bench_text"))
        like_total = index_total = 0.0
        for query in QUERIES:
            lexemes = " | ".join(f"'{t}'" for t in terms(query))
            # LIKE finds the exact phrase only; the index finds any of its bigrams,
            # so it finds at least as much (what a ranked search needs).
            like, like_found = await timed(
                conn,
                "SELECT count(*) FROM bench_text WHERE content LIKE :p",
                {"p": f"%{query}%"},
            )
            indexed, index_found = await timed(
                conn,
                "SELECT count(*) FROM bench_text WHERE v @@ CAST(:q AS tsquery)",
                {"q": lexemes},
            )
            like_total += like
            index_total += indexed
            print(
                f"{query:>8}: LIKE {like * 1000:7.2f} ms ({like_found} rows)   "
                f"index {indexed * 1000:7.2f} ms ({index_found} rows)"
            )
        await conn.rollback()
    await engine.dispose()
    print(f"rows={rows} ratio (LIKE time / index time) = {like_total / index_total:.1f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000))
