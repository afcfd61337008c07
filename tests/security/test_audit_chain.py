"""Issue 15 item 6: the audit log is tamper-evident. Every event is chained to the one before it by
a SHA-256 hash; `sdm audit verify` names the first event whose hash or link does not hold; on
PostgreSQL the table refuses UPDATE and DELETE to the
application's role; concurrent writers never fork the chain."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import migrate
from sdm_service.audit import SYSTEM, Actor, record, record_now, record_read
from sdm_service.cli import main
from sdm_service.db import create_autocommit_engine, create_engine
from sdm_service.models import AuditEvent
from sdm_service.services.audit_query import ChainCheck, verify_chain
from sdm_service.settings import PROJECT_ROOT
from tests.conftest import (
    POSTGRES_ADMIN_URL,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)

INIT_SCRIPT = PROJECT_ROOT / "deploy" / "postgres-init" / "10-app-role.sh"
ACTOR = Actor("clinician", "u-1", "dr.rivera")


def _engine(url: str) -> AsyncEngine:
    return create_engine(make_settings(url))


async def _write_events(url: str, count: int) -> None:
    engine = _engine(url)
    try:
        for number in range(count):
            await record_now(
                engine,
                ACTOR,
                "response.view",
                entity_type="response",
                entity_id=f"r-{number}",
                ip="10.0.0.7",
                detail={"n": number, "name": "Zoë"},
            )
    finally:
        await engine.dispose()


async def _verify(url: str) -> ChainCheck:
    engine = _engine(url)
    try:
        async with AsyncSession(engine) as session:
            return await verify_chain(session)
    finally:
        await engine.dispose()


async def _tamper(url: str, sql: str) -> None:
    """What someone with the database file, or the owner's password on PostgreSQL, could do to a copy."""
    engine = _engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(sql))
    finally:
        await engine.dispose()


def _cli_verify(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify"], env={"SDM_DATABASE_URL": url, "SDM_ENV": "test"})
    return result.exit_code, result.output


def test_an_untouched_log_verifies_with_its_count(database_url: str) -> None:
    asyncio.run(_write_events(database_url, 5))
    check = asyncio.run(_verify(database_url))
    assert check.intact
    assert check.checked == 5
    code, output = _cli_verify(database_url)
    assert code == 0, output
    assert "intact: 5 events" in output


def test_events_of_one_unit_of_work_chain_in_the_order_they_were_recorded(database_url: str) -> None:
    async def write() -> None:
        engine = _engine(database_url)
        try:
            async with AsyncSession(engine) as session:
                for action in ("first", "second", "third"):
                    await record(session, SYSTEM, action)
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(write())
    asyncio.run(_write_events(database_url, 1))
    assert asyncio.run(_verify(database_url)) == ChainCheck(checked=4, broken=None)


def test_a_deleted_event_is_reported_at_the_event_after_it(database_url: str) -> None:
    asyncio.run(_write_events(database_url, 5))
    asyncio.run(_tamper(database_url, "DELETE FROM audit_events WHERE id = 3"))
    check = asyncio.run(_verify(database_url))
    assert check.broken is not None
    assert check.broken.event_id == 4
    assert "removed" in check.broken.problem
    code, output = _cli_verify(database_url)
    assert code == 1
    assert "BROKEN at event 4" in output
    assert "2 events before it check out" in output


def test_a_changed_event_is_reported_itself(database_url: str) -> None:
    asyncio.run(_write_events(database_url, 5))
    asyncio.run(_tamper(database_url, "UPDATE audit_events SET actor_label = 'someone-else' WHERE id = 2"))
    check = asyncio.run(_verify(database_url))
    assert check.broken is not None
    assert check.broken.event_id == 2
    assert "changed after it was written" in check.broken.problem
    code, output = _cli_verify(database_url)
    assert code == 1
    assert "BROKEN at event 2" in output


def test_removing_the_oldest_events_is_reported(database_url: str) -> None:
    asyncio.run(_write_events(database_url, 3))
    asyncio.run(_tamper(database_url, "DELETE FROM audit_events WHERE id = 1"))
    check = asyncio.run(_verify(database_url))
    assert check.broken is not None
    assert check.broken.event_id == 2
    assert "earlier events were removed" in check.broken.problem


def test_concurrent_writers_keep_one_chain(database_url: str) -> None:
    """Two event loops with their own engines stand for two worker processes (no shared in-process
    gate); each writes events from several concurrent tasks."""
    per_task, tasks = 6, 4

    async def worker() -> None:
        engine = _engine(database_url)
        try:
            await asyncio.gather(
                *(
                    record_now(engine, ACTOR, "response.view", entity_id=f"{task}-{n}")
                    for task in range(tasks)
                    for n in range(per_task)
                )
            )
        finally:
            await engine.dispose()

    threads = [threading.Thread(target=asyncio.run, args=(worker(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = asyncio.run(_verify(database_url))
    assert check == ChainCheck(checked=2 * tasks * per_task, broken=None)


def test_reads_recorded_at_once_join_the_one_chain(database_url: str) -> None:
    """An API read is recorded by record_read: on SQLite one INSERT on the autocommit engine that
    links itself to the chain and commits itself. Mixed with units of work, from concurrent tasks
    of two event loops (two worker processes), the chain still holds every event once."""
    per_loop = 8

    async def worker(loop_number: int) -> None:
        settings = make_settings(database_url)
        engine = create_engine(settings)
        autocommit = create_autocommit_engine(settings, engine)

        async def read(n: int) -> None:
            async with AsyncSession(engine) as session:
                entity = f"read-{loop_number}-{n}"
                await record_read(session, autocommit, ACTOR, "api.response.read", entity_id=entity)

        try:
            await asyncio.gather(
                *(read(n) for n in range(per_loop)),
                *(record_now(engine, ACTOR, "response.view", entity_id=f"view-{n}") for n in range(per_loop)),
            )
        finally:
            await autocommit.dispose()
            await engine.dispose()

    threads = [threading.Thread(target=asyncio.run, args=(worker(number),)) for number in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert asyncio.run(_verify(database_url)) == ChainCheck(checked=2 * 2 * per_loop, broken=None)

    async def reads() -> list[str]:
        engine = _engine(database_url)
        try:
            async with AsyncSession(engine) as session:
                query = sa.select(AuditEvent.entity_id).where(AuditEvent.action == "api.response.read")
                return sorted((await session.execute(query)).scalars())
        finally:
            await engine.dispose()

    expected = sorted(f"read-{loop}-{n}" for loop in range(2) for n in range(per_loop))
    assert asyncio.run(reads()) == expected


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        migrate.upgrade(url, "0004_drop_rate_events", configure_logging=False)
        yield url
        return
    url = create_postgres_database()
    migrate.upgrade(url, "0004_drop_rate_events", configure_logging=False)
    yield url
    drop_postgres_database(url)


_table = AuditEvent.__table__  # type: ignore[attr-defined]
# audit_events as it was at revision 0004, before the hash columns.
_OLD_AUDIT_EVENTS = sa.table(
    "audit_events",
    *(
        sa.column(name, _table.c[name].type)
        for name in (
            "occurred_at",
            "actor_type",
            "actor_id",
            "actor_label",
            "action",
            "entity_type",
            "entity_id",
            "ip",
            "detail",
        )
    ),
)


def test_the_migration_chains_events_recorded_before_it(database_at_0004: str) -> None:
    url = database_at_0004

    async def old_rows() -> None:
        engine = _engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.insert(_OLD_AUDIT_EVENTS).values(
                        [
                            {
                                "occurred_at": datetime(2026, 11, 20 + n, 10, 0, n, 123456, tzinfo=UTC),
                                "actor_type": "clinician",
                                "actor_id": "u",
                                "actor_label": "dr.x",
                                "action": "response.view",
                                "entity_type": "response",
                                "entity_id": f"r-{n}",
                                "ip": "10.0.0.1",
                                "detail": {"b": [1, 2], "a": "é"},
                            }
                            for n in range(4)
                        ]
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(old_rows())
    migrate.upgrade(url, configure_logging=False)
    asyncio.run(_write_events(url, 2))  # new events link on to the migrated ones
    assert asyncio.run(_verify(url)) == ChainCheck(checked=6, broken=None)
    asyncio.run(_tamper(url, "UPDATE audit_events SET detail = '{}' WHERE id = 3"))
    check = asyncio.run(_verify(url))
    assert check.broken is not None
    assert check.broken.event_id == 3


@pytest.fixture
def compose_roles_database() -> Iterator[tuple[str, str]]:
    """A database set up as docker-compose sets it up: the init script creates the application's
    role, then the owner migrates. Yields (owner URL, application URL)."""
    url = create_postgres_database()
    admin = urlsplit(POSTGRES_ADMIN_URL)
    role, password = f"sdm_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    database = url.rpartition("/")[2]
    environment = {
        **os.environ,
        "POSTGRES_USER": admin.username or "postgres",
        "POSTGRES_DB": database,
        "SDM_APP_DB_USER": role,
        "SDM_APP_DB_PASSWORD": password,
        "PGHOST": admin.hostname or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
    }
    if admin.password:
        environment["PGPASSWORD"] = admin.password
    try:
        subprocess.run(["sh", str(INIT_SCRIPT)], env=environment, check=True, capture_output=True)
        migrate.upgrade(url, configure_logging=False)
        host = f"{admin.hostname or '127.0.0.1'}:{admin.port or 5432}"
        yield url, f"postgresql://{role}:{password}@{host}/{database}"
    finally:
        drop_postgres_database(url)
        asyncio.run(_drop_role(role))


async def _drop_role(role: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await connection.close()


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_from_the_application_role(
    compose_roles_database: tuple[str, str],
) -> None:
    owner_url, app_url = compose_roles_database
    asyncio.run(_write_events(owner_url, 2))
    asyncio.run(_as_application(app_url))
    assert asyncio.run(_verify(owner_url)) == ChainCheck(checked=3, broken=None)


async def _as_application(app_url: str) -> None:
    engine = _engine(app_url)
    try:
        await record_now(engine, ACTOR, "response.view", entity_id="written-by-the-app")
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(app_url, timeout=10)
    try:
        assert not await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("UPDATE audit_events SET actor_label = 'x' WHERE id = 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("DELETE FROM audit_events WHERE id = 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("TRUNCATE audit_events")
        # Everything else the app does to its other tables is still allowed.
        await connection.execute("DELETE FROM rate_counters")
    finally:
        await connection.close()
