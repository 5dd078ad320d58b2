"""A statement PostgreSQL refuses is reported without its values: they are
citizens' phones and names, and errors end up in log lines. (The server's own
message may still quote a value, e.g. a duplicate key: code that logs a refusal
of personal data logs its kind, as the access log writer does.)"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callcenter.db.engine import make_engine


async def test_an_error_leaves_the_values_out(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    phone = "13912345678"
    try:
        with pytest.raises(DBAPIError) as refused:
            async with engine.begin() as conn:
                await conn.execute(text("SELECT length(:phone) / 0"), {"phone": phone})
    finally:
        await engine.dispose()
    assert "division by zero" in str(refused.value) and phone not in str(refused.value)
