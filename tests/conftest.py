"""Fixtures shared by every suite that touches the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """What the tests and the SIPp peers they start write under run/ (message
    traces with callers' numbers, service logs, copied configuration) is for
    root alone, like everything else the project keeps there."""
    os.umask(0o077)


def default_test_db() -> str:
    """What scripts/test.sh uses: the service's database URL (with the password
    set-up generated) for the database named ``<db>_test``."""
    callcenter = str(ROOT / ".venv" / "bin" / "callcenter")
    subprocess.run(
        [callcenter, "db", "init-password"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    main = subprocess.run(
        [callcenter, "db", "url"], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    url = make_url(main)
    return url.set(database=f"{url.database}_test").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        url = default_test_db()
        make_database(url)
    return url


def make_database(url: str) -> None:
    """Create the database ``url`` names (its role too) and migrate it to head."""
    subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh"), url], check=True, stdout=subprocess.DEVNULL
    )


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()
