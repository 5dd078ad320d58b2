"""Fixtures shared by every suite that touches the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEST_DB = "postgresql+asyncpg://hotline:hotline@127.0.0.1:5432/hotline_test"


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        url = DEFAULT_TEST_DB
        subprocess.run(
            [str(ROOT / "scripts" / "postgres.sh"), url], check=True, stdout=subprocess.DEVNULL
        )
    return url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()
