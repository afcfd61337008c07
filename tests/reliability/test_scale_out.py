"""Scale-out, as a hospital would run it: two `sdm run` processes (two machines, in effect) on one
PostgreSQL and one Redis, behind a balancer without sticky sessions. Every patient's requests
alternate between the two: no error, no lost answer; and one API token's rate limit is counted once
across both (Redis), not once per process."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdm_service import migrate
from sdm_service.content import Content, load_library
from sdm_service.settings import PROJECT_ROOT
from tests.conftest import TEST_SECRET, create_postgres_database, drop_postgres_database
from tests.reliability import live
from tests.reliability.live import SDM, LiveServer, Patient, complete_questionnaire, row_for, stored_responses

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REDIS_URL = os.environ.get("SDM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("SDM_REQUIRE_REDIS") == "1"
PATIENTS = 12
API_LIMIT = 8  # per token per window, shared by both processes


def need_redis() -> None:
    import redis
    from redis.exceptions import RedisError

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (RedisError, OSError) as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required here (SDM_REQUIRE_REDIS=1) but {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")


class Alternating(httpx.AsyncBaseTransport):
    """A balancer without sticky sessions: each request goes to the next server in turn."""

    def __init__(self, ports: list[int], local_address: str) -> None:
        self.ports = ports
        self.transports = [httpx.AsyncHTTPTransport(local_address=local_address, retries=0) for _ in ports]
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self.sent % len(self.ports)
        self.sent += 1
        request.url = request.url.copy_with(port=self.ports[index])
        return await self.transports[index].handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self.transports:
            await transport.aclose()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, list[LiveServer]]]:
    need_redis()
    database = create_postgres_database()
    migrate.upgrade(database, configure_logging=False)
    env = {
        "SDM_RATE_LIMIT_STORE": "redis",
        "SDM_REDIS_URL": REDIS_URL,
        "SDM_API_REQUESTS_PER_WINDOW": str(API_LIMIT),
        "SDM_API_REQUESTS_PER_IP_PER_WINDOW": "10000",
        "SDM_API_REQUEST_WINDOW_SECONDS": "600",
    }
    started: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            server = LiveServer(database, tmp_path / f"server-{name}.log", workers=1, env=env)
            server.start()
            started.append(server)
        yield database, started
    finally:
        for server in started:
            server.stop()
        drop_postgres_database(database)


def api_token(database_url: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SDM_DATABASE_URL": database_url,
        "SDM_ENV": "test",
        "SDM_SECRET_KEY": TEST_SECRET,
    }
    name = f"EHR {secrets.token_hex(4)}"
    created = subprocess.run(
        [str(SDM), "api-clients", "create", name, "--scopes", "responses:read"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return created.stdout.strip().splitlines()[-1]


def test_patients_spread_over_two_processes_lose_nothing_and_limits_are_shared(
    servers: tuple[str, list[LiveServer]], monkeypatch: pytest.MonkeyPatch
) -> None:
    database, (first, second) = servers
    content: Content = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm")
    ports = [first.port, second.port]
    transports: list[Alternating] = []

    def alternating_client(server: LiveServer, patient: Patient) -> httpx.AsyncClient:
        transport = Alternating(ports, live.patient_address(patient.number))
        transports.append(transport)
        client = httpx.AsyncClient(
            base_url=server.base_url, transport=transport, timeout=httpx.Timeout(60.0), follow_redirects=False
        )
        if patient.token:
            client.cookies.set(live.PATIENT_COOKIE, patient.token, domain="127.0.0.1")
        return client

    monkeypatch.setattr(live, "patient_client", alternating_client)

    async def everyone() -> list[Patient]:
        return list(
            await asyncio.gather(
                *(complete_questionnaire(first, content, Patient(number=n)) for n in range(PATIENTS))
            )
        )

    patients = asyncio.run(everyone())
    for patient in patients:
        assert patient.completed, f"patient {patient.number}: {patient.stopped_by}"
        assert patient.server_errors == [], f"patient {patient.number}: {patient.statuses}"
    assert all(transport.sent >= 20 for transport in transports)  # each patient used both servers
    rows = asyncio.run(stored_responses(database))
    for patient in patients:
        row: dict[str, Any] | None = row_for(rows, patient)
        assert row is not None
        assert row["status"] == "completed"
        assert row["answers"] == patient.sent_answers, f"patient {patient.number}: an answer was lost"

    # One token, alternating between the processes: the limit is counted once across both.
    headers = {"Authorization": f"Bearer {api_token(database)}"}
    statuses = []
    for index in range(API_LIMIT + 4):
        server = (first, second)[index % 2]
        statuses.append(
            httpx.get(f"{server.base_url}/api/v1/responses", headers=headers, timeout=30).status_code
        )
    assert statuses[:API_LIMIT] == [200] * API_LIMIT, statuses
    assert statuses[API_LIMIT:] == [429] * 4, statuses

    for server in (first, second):
        assert server.server_errors_logged() == [], server.log_tail()
