"""The database goes away while the service runs, then comes back: patients see a calm 503 in the
meantime, nothing is half-written, and everything works again without a restart (PostgreSQL,
reached through a TCP proxy the test can cut)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service import migrate
from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.models import PatientResponse
from sdm_service.settings import Settings
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings
from tests.reliability.live import free_port
from tests.web.patient_support import BASE, csrf_token, lock_version, start, step_values


class TcpProxy:
    """Forwards a local port to the database; cut() drops every connection and refuses new ones."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def _run(self, coroutine: object) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)  # type: ignore[arg-type]

    def open(self) -> None:
        self._run(self._open())

    def cut(self) -> None:
        self._run(self._cut())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    async def _open(self) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update({writer, upstream_writer})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied_settings() -> Iterator[Settings]:
    database_url = create_postgres_database()
    migrate.upgrade(database_url, configure_logging=False)
    parts = urlsplit(database_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.open()
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    settings = make_settings(parts._replace(netloc=netloc).geturl())
    settings.__dict__["_proxy"] = proxy  # frozen settings: keep the proxy reachable for the test
    yield settings
    proxy.close()
    drop_postgres_database(database_url)


@pytest.fixture
async def outage_client(proxied_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(
        app=create_app(proxied_settings), base_url="http://testserver.local"
    ) as client:
        yield client


async def stored(settings: Settings) -> list[PatientResponse]:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            return list((await session.execute(select(PatientResponse))).scalars())
    finally:
        await engine.dispose()


async def test_an_outage_gives_503_pages_and_nothing_half_written_then_recovers(
    proxied_settings: Settings, outage_client: AsyncTestClient[Litestar]
) -> None:
    proxy: TcpProxy = proxied_settings.__dict__["_proxy"]
    client = outage_client
    content = client.app.state.library.get("iort-sdm")
    first_page = await start(client)
    first_values = step_values(content, {}, 0)
    saved = await client.post(
        f"{BASE}/step/1",
        data={
            "_csrf_token": csrf_token(first_page),
            "lock_version": lock_version(first_page),
            "action": "continue",
            **first_values,
        },
    )
    assert saved.status_code == 200
    second_page = saved.text
    second_values = step_values(content, first_values, 1)
    form = {
        "_csrf_token": csrf_token(second_page),
        "lock_version": lock_version(second_page),
        "action": "continue",
        **second_values,
    }

    proxy.cut()
    during = await client.post(f"{BASE}/step/2", data=form)
    assert during.status_code == 503
    assert "Temporarily unavailable" in during.text
    api = await client.get("/api/v1/responses", headers={"Authorization": "Bearer t"})
    assert api.status_code == 503
    assert api.json()["status_code"] == 503
    fhir = await client.get("/fhir/metadata", headers={"Authorization": "Bearer t"})
    assert fhir.status_code == 503
    assert fhir.json()["resourceType"] == "OperationOutcome"

    proxy.open()
    (before_retry,) = await stored(proxied_settings)
    assert before_retry.answers == first_values  # the failed save left nothing behind
    assert before_retry.summary is None
    retried = await client.post(f"{BASE}/step/2", data=form)
    assert retried.status_code == 200
    assert retried.history[0].status_code == 303  # saved, then on to the next page
    (after,) = await stored(proxied_settings)
    assert after.answers == {**first_values, **second_values}
    assert after.lock_version == before_retry.lock_version + 1
