"""Migrations are the only way the schema changes: prove they build exactly what the models describe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import sdm_service.models  # noqa: F401
from sdm_service import migrate
from sdm_service.db import create_engine
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, SQLModel.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _inspect(url: str) -> tuple[list[object], set[str]]:
    engine = create_engine(make_settings(url))
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
            tables = await connection.run_sync(_tables)
    finally:
        await engine.dispose()
    return diff, tables


def test_upgrade_to_head_matches_the_models_exactly(empty_database: str) -> None:
    migrate.upgrade(empty_database, configure_logging=False)
    diff, tables = asyncio.run(_inspect(empty_database))
    assert diff == [], f"models and migrations disagree; write a migration for: {diff}"
    assert set(SQLModel.metadata.tables) <= tables


def test_downgrade_to_base_removes_every_table(empty_database: str) -> None:
    migrate.upgrade(empty_database, configure_logging=False)
    migrate.downgrade(empty_database, "base", configure_logging=False)
    _diff_after, tables = asyncio.run(_inspect(empty_database))
    assert tables <= {"alembic_version"}


def test_migrations_have_a_single_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"several migration heads: {script.get_heads()}"
