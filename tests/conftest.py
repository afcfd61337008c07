"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL, each test on a clean state.

PostgreSQL comes from SDM_TEST_POSTGRES_URL (an admin URL; the suite creates and drops its own
database inside it). Without it the PostgreSQL variants skip with a reason, unless
SDM_REQUIRE_POSTGRES=1 (as in .ci/run), where a missing or unreachable server fails the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service import migrate
from sdm_service.app import create_app
from sdm_service.settings import Settings, load_settings

POSTGRES_ADMIN_URL = os.environ.get("SDM_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("SDM_REQUIRE_POSTGRES") == "1"
# Redis for the tests of the shared stores (rate limits, replay, delivery queue); give each run its own db.
REDIS_URL = os.environ.get("SDM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("SDM_REQUIRE_REDIS") == "1"  # unreachable Redis fails rather than skips
# The real EHR (FHIR + OAuth servers, session-scoped), shared by tests/ehr and tests/reliability.
pytest_plugins = ["tests.ehr_servers"]
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
APP_TABLES_EXCLUDE = {"alembic_version"}


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def postgres_unavailable_reason() -> str | None:
    if not POSTGRES_ADMIN_URL:
        return "SDM_TEST_POSTGRES_URL is not set (PostgreSQL tests run in .ci/run)"
    return None


def _need_postgres() -> str:
    reason = postgres_unavailable_reason()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here but {reason}")
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def create_postgres_database() -> str:
    """Create an empty, uniquely named database; returns its URL."""
    admin = _need_postgres()
    name = f"sdm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL at SDM_TEST_POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at SDM_TEST_POSTGRES_URL is unreachable: {exc}")
    return _with_database(admin, name)


def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (far faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}", configure_logging=False)
    return path


@pytest.fixture(scope="session")
def postgres_session_database() -> Iterator[str]:
    url = create_postgres_database()
    migrate.upgrade(url, configure_logging=False)
    yield url
    drop_postgres_database(url)


async def _truncate_all(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [r["tablename"] for r in rows if r["tablename"] not in APP_TABLES_EXCLUDE]
        if tables:
            await connection.execute(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A clean, migrated database: SQLite file per test, or the session's PostgreSQL database truncated."""
    if request.param == "sqlite":
        path = tmp_path / "sdm.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    _need_postgres()
    url: str = request.getfixturevalue("postgres_session_database")
    asyncio.run(_truncate_all(url))
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """For tests whose subject does not depend on the database engine."""
    path = tmp_path / "sdm.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "secret_key": TEST_SECRET,
        "base_url": "http://testserver.local",
        "clinic_name": "Test Cancer Center",
        # Cheap argon2id: sign-in tests would otherwise spend most of their time hashing.
        # tests/security/test_password_hashing.py checks the production parameters.
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 8,
        "password_hash_parallelism": 1,
    }
    values.update(overrides)
    # Administrators must enrol a second factor; tests of other features sign admins in with a
    # password only. tests/identity/test_mfa.py turns it on; production settings refuse it off.
    if values["env"] != "production":
        values.setdefault("mfa_required_for_admins", False)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client
