"""Engine and session factory; one AsyncSession per unit of work, never shared."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    # hide_parameters: SQLAlchemy leaves a statement's values (callers' phones and
    # names) out of its error messages, so they stay out of log lines.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, hide_parameters=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
