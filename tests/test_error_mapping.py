"""What an exception means for the answer: only a database that cannot be reached (or whose every
pooled connection stays busy past the pool timeout) is a 503 with Retry-After; any other OSError
(a missing file, a socket elsewhere) is an ordinary 500."""

from __future__ import annotations

import pytest
from litestar import MediaType, get
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.errors import DATABASE_RETRY_AFTER_SECONDS, is_database_outage
from tests.conftest import make_settings
from tests.reliability.live import free_port


@get(["/probe/file", "/api/v1/probe/file", "/fhir/probe/file"], media_type=MediaType.HTML)
async def probe_missing_file() -> str:
    with open("/nonexistent/sdm-probe/file.txt") as handle:  # noqa: ASYNC230 - raises at once
        return handle.read()


@get(["/probe/busy", "/api/v1/probe/busy", "/fhir/probe/busy"], media_type=MediaType.HTML)
async def probe_busy_pool(db_session: NamedDependency[AsyncSession]) -> str:
    """Holds every connection the request pool may open (pool + overflow), then asks for one more."""
    engine = db_session.bind
    assert isinstance(engine, AsyncEngine)
    async with engine.connect(), engine.connect():
        await db_session.execute(text("SELECT 1"))
    return "not reached"


async def test_an_oserror_outside_the_database_is_a_500_not_an_outage(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url))
    app.register(probe_missing_file)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        page = await client.get("/probe/file")
        assert page.status_code == 500
        assert "Something went wrong on our side" in page.text
        api = await client.get("/api/v1/probe/file")
        assert api.status_code == 500
        assert "database" not in api.json()["detail"]
        fhir = await client.get("/fhir/probe/file")
        assert fhir.status_code == 500
        assert fhir.json()["resourceType"] == "OperationOutcome"


async def test_a_refused_database_connection_is_an_outage() -> None:
    settings = make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    engine = create_engine(settings)
    try:
        with pytest.raises(OSError) as refused:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert is_database_outage(refused.value)
    assert not is_database_outage(OSError("No space left on device"))
    assert not is_database_outage(ConnectionResetError("a socket elsewhere"))


async def test_an_unreachable_database_shows_the_outage_page() -> None:
    settings = make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        page = await client.get("/i/" + "x" * 43)  # looking the link up needs the database
        assert page.status_code == 503
        assert "Temporarily unavailable" in page.text


@pytest.mark.postgres
async def test_a_request_waiting_past_the_pool_timeout_is_shed_with_503_and_retry_after(
    postgres_session_database: str,
) -> None:
    settings = make_settings(postgres_session_database, db_pool_size=1, db_pool_timeout_seconds=0.2)
    engine = create_engine(settings)
    try:
        assert engine.pool.timeout() == 0.2  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
    app = create_app(settings)
    app.register(probe_busy_pool)
    retry_after = str(DATABASE_RETRY_AFTER_SECONDS)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        page = await client.get("/probe/busy")
        assert (page.status_code, page.headers["retry-after"]) == (503, retry_after)
        assert "Temporarily unavailable" in page.text
        api = await client.get("/api/v1/probe/busy")
        assert (api.status_code, api.headers["retry-after"]) == (503, retry_after)
        assert api.json()["status_code"] == 503
        fhir = await client.get("/fhir/probe/busy")
        assert (fhir.status_code, fhir.headers["retry-after"]) == (503, retry_after)
        assert fhir.json()["resourceType"] == "OperationOutcome"
        assert (await client.get("/health")).status_code == 200  # the pool recovers at once
