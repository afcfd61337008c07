"""A database session for test code, apart from the app's own engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.db import create_engine


@asynccontextmanager
async def db(app: Litestar) -> AsyncIterator[AsyncSession]:
    """A session on an engine of the test's own: the test client runs the app on another event loop,
    and pooled connections (asyncpg's above all) must not move between loops."""
    engine = create_engine(app.state.settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        await engine.dispose()
