"""Engine and session wiring: one AsyncSession per request (advanced-alchemy), committed when the
handler answers 2xx/3xx and rolled back otherwise, so a failed request never leaves half a record."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from sdm_service.resources import resource_path
from sdm_service.settings import Settings
from sdm_service.sqlite_driver import one_hop_dbapi

SQLITE_BUSY_TIMEOUT_MS = 5000
AUTOCOMMIT_POOL_SIZE = 4  # SQLite: single statements, each holding a connection for one hand-over
PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def sqlite_file(url: str) -> Path | None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path.startswith(":memory:"):
        return None
    return Path(path.split("?", 1)[0])


def make_private(db_file: Path) -> None:
    """The database holds names, MRNs and answers: only the service's own user may read it. A
    directory made here is 0700; the file is created (or tightened to) 0600 before SQLite opens it,
    and SQLite gives its -wal and -shm files the database file's mode."""
    if not db_file.parent.exists():
        db_file.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    if not db_file.exists():
        # Only when missing: closing any descriptor of an open SQLite file drops every POSIX lock this
        # process holds on it, so an engine made while another one has connections open (a delivery
        # worker's threads) would let other processes read half-written pages ("disk I/O error").
        os.close(os.open(db_file, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE))
    for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            path.chmod(mode & PRIVATE_FILE_MODE)


def create_engine(
    settings: Settings, *, pool_size: int | None = None, autocommit: bool = False
) -> AsyncEngine:
    """`autocommit` (SQLite only): every statement commits by itself; see create_autocommit_engine."""
    url = settings.database_url
    if settings.is_sqlite:
        db_file = sqlite_file(url)
        if db_file is not None:
            make_private(db_file)
        pool_options: dict[str, Any] = {"poolclass": NullPool} if db_file is None else {}
        if db_file is not None and pool_size is not None:
            # A fixed-size pool: callers queue in order instead of several connections racing for
            # SQLite's single write lock and backing off in busy_timeout sleeps.
            pool_options.update(pool_size=pool_size, max_overflow=0, pool_timeout=30)
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        if autocommit:
            connect_args["isolation_level"] = None  # sqlite3 opens no transaction of its own
        engine = create_async_engine(
            url,
            connect_args=connect_args,
            module=one_hop_dbapi(),  # one thread hand-over per statement, not four
            **pool_options,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers proceed while a writer commits; busy_timeout waits instead of failing.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # A burst beyond pool + overflow queues for a connection (first come, first served) for up to
    # the pool timeout, then gets 503 with Retry-After (errors.py): load is shed, never half done.
    return create_async_engine(
        url,
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=pool_size or settings.db_pool_size,
        pool_pre_ping=True,
        pool_timeout=settings.db_pool_timeout_seconds,
    )


def create_autocommit_engine(settings: Settings, side_engine: AsyncEngine) -> AsyncEngine:
    """Connections on which each statement commits by itself, for writes of one statement that
    must not wait for a request's transaction (rate-limit counts, the audit event of a read). On
    PostgreSQL a row lock is then held for the statement, not a round trip more until COMMIT; on
    SQLite the statement and its commit are one hand-over to the driver's thread, and the writer
    gate is held for that statement only (sqlite_driver.py)."""
    if not settings.is_sqlite:
        return side_engine.execution_options(isolation_level="AUTOCOMMIT")
    if sqlite_file(settings.database_url) is None:  # in memory: each connection is its own database
        return side_engine
    return create_engine(settings, pool_size=AUTOCOMMIT_POOL_SIZE, autocommit=True)


def sqlalchemy_config(settings: Settings, engine: AsyncEngine) -> SQLAlchemyAsyncConfig:
    return SQLAlchemyAsyncConfig(
        engine_instance=engine,
        metadata=SQLModel.metadata,
        session_dependency_key="db_session",
        # Named for what it is, apart from create_app's "side_engine", so neither can overwrite the
        # other (once both were "db_engine": rate limits and side writes ran on the request pool).
        engine_app_state_key="request_db_engine",
        session_config=AsyncSessionConfig(expire_on_commit=False),
        # The string form builds the handler with this config's own session scope key; a handler made
        # here with the default key misses the session of every app after the first in a process.
        before_send_handler="autocommit_include_redirects",
        enable_touch_updated_timestamp_listener=False,
        alembic_config=AlembicAsyncConfig(
            script_config=str(resource_path("alembic.ini")),
            script_location=str(resource_path("migrations")),
        ),
    )


async def database_is_reachable(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:  # any driver or network error means "not reachable" for the health check
        return False
    return True
