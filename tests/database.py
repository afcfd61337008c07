"""A database session for test code, apart from the app's own engine, and the SQL statements run meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from litestar import Litestar
from sqlalchemy import event
from sqlalchemy.engine import Engine
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


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL statements any engine runs meanwhile (the app's included)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)
