"""What an exception means for the answer: only a database that cannot be reached is a 503
outage; any other OSError (a missing file, a socket elsewhere) is an ordinary 500."""

from __future__ import annotations

import pytest
from litestar import MediaType, get
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.errors import is_database_outage
from tests.conftest import make_settings
from tests.reliability.live import free_port


@get(["/probe/file", "/api/v1/probe/file", "/fhir/probe/file"], media_type=MediaType.HTML)
async def probe_missing_file() -> str:
    with open("/nonexistent/sdm-probe/file.txt") as handle:  # noqa: ASYNC230 - raises at once
        return handle.read()


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
