"""Scale-out, as a hospital would run it: two `sdm run` processes and two `sdm worker` processes
(four machines, in effect) on one PostgreSQL and one Redis (rate limits, SMART replay cache and the
delivery queue), behind a balancer without sticky sessions, writing back to a real FHIR server
whose OAuth server issues the workers' tokens (tests/ehr_servers.py).

Issue 17: 200 completions under load, spread over both apps, become 200 DocumentReferences in the
EHR, each exactly once. Patients fill in the questionnaire page by page with every request
alternating between the apps, while EHR interfaces push completed QuestionnaireResponses (the FHIR
intake) to both apps at the same time: no 5xx, no lost answer, every delivery delivered once. Then:
one API token's rate limit is counted once across both apps (Redis), not once per process, and a
SMART client's assertion used at one app is refused at the other."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service import migrate
from sdm_service.content import Content, load_library
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.db import create_engine
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.models import ResponseStatus, utcnow
from sdm_service.services.api_clients import NewApiClient, create_api_client
from sdm_service.settings import PROJECT_ROOT
from tests.api.conftest import MRN_SYSTEM, full_answers
from tests.conftest import (
    REDIS_URL,
    REQUIRE_REDIS,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
)
from tests.ehr_servers import CLIENT_ID, SCOPES, Ehr
from tests.reliability import live
from tests.reliability.live import (
    LiveServer,
    LiveWorker,
    Patient,
    complete_questionnaire,
    row_for,
    stored_deliveries,
    stored_responses,
)
from tests.smart.support import assertion, new_rsa, public_jwks, token_form

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

COMPLETIONS = 200  # issue 17: 200 completions under load -> 200 documents, none twice
WEB_PATIENTS = 40  # page by page (about 22 requests each), every request alternating between the apps
INTAKE_COMPLETIONS = COMPLETIONS - WEB_PATIENTS  # one FHIR POST each, alternating between the apps
# Requests in flight at once: every web patient at the same moment, plus this many intake POSTs.
# That is more than the two apps' pools hold (pool 10 + overflow 10 each, the defaults): the rest
# queue for a connection within the pool timeout (SDM_DB_POOL_TIMEOUT_SECONDS, default 30 s).
INTAKE_AT_ONCE = 40
WORKER_THREADS = 4  # per `sdm worker`, as docker-compose and the Kubernetes worker run it
API_LIMIT = 8  # per token per window, shared by both processes
DELIVERY_DEADLINE_SECONDS = 300.0  # generous for a loaded machine; the wait ends on the outcome


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


@dataclass
class Deployment:
    database: str
    public_url: str  # the balancer's address: every process's SDM_BASE_URL
    apps: list[LiveServer]
    workers: list[LiveWorker]


@pytest.fixture
def deployment(tmp_path: Path, fresh_ehr: Ehr, ehr_key_files: list[Path]) -> Iterator[Deployment]:
    need_redis()
    database = create_postgres_database()
    migrate.upgrade(database, configure_logging=False)
    apps = [LiveServer(database, tmp_path / f"app-{name}.log", workers=1) for name in ("a", "b")]
    env = {
        "SDM_BASE_URL": apps[0].base_url,
        "SDM_RATE_LIMIT_STORE": "redis",  # the SMART replay cache follows the rate limits there
        "SDM_REDIS_URL": REDIS_URL,
        "SDM_API_REQUESTS_PER_WINDOW": str(API_LIMIT),
        "SDM_API_REQUESTS_PER_IP_PER_WINDOW": "10000",
        "SDM_API_REQUEST_WINDOW_SECONDS": "600",
        "SDM_EHR_FHIR_BASE_URL": fresh_ehr.fhir_base,
        "SDM_EHR_CLIENT_ID": CLIENT_ID,
        "SDM_EHR_PRIVATE_KEY_FILE": ",".join(str(path) for path in ehr_key_files),
        "SDM_EHR_SCOPE": SCOPES,
        "SDM_DELIVERY_QUEUE_URL": REDIS_URL,
        "SDM_DELIVERY_BACKOFF_SECONDS": "0.5",
        "SDM_DELIVERY_BACKOFF_MAX_SECONDS": "5",
    }
    workers = [
        LiveWorker(database, tmp_path / f"worker-{name}.log", env, threads=WORKER_THREADS)
        for name in ("a", "b")
    ]
    started: list[LiveServer | LiveWorker] = []
    try:
        for process in (*apps, *workers):  # all four start side by side
            if isinstance(process, LiveServer):
                process.extra_env = env
                process.launch()
            else:
                process.start()
            started.append(process)
        for app in apps:
            app.wait_ready()
        yield Deployment(database, apps[0].base_url, apps, workers)
    finally:
        with ThreadPoolExecutor(len(started) or 1) as stopping:  # and stop side by side
            list(stopping.map(lambda process: process.stop(), started))
        drop_postgres_database(database)


def api_clients(database_url: str, *wanted: tuple[str, dict[str, Any] | None]) -> list[NewApiClient]:
    """Clients of these (scopes, JWKS or None for a static token), made by the service's own
    create_api_client (what `sdm api-clients create` runs, tested with the command elsewhere) in
    one transaction: the command would start Python once per client."""

    async def make() -> list[NewApiClient]:
        engine = create_engine(make_settings(database_url))
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                made = [
                    await create_api_client(session, f"EHR {n} {secrets.token_hex(4)}", scopes, jwks=jwks)
                    for n, (scopes, jwks) in enumerate(wanted)
                ]
                await session.commit()
        finally:
            await engine.dispose()
        return made

    return asyncio.run(make())


@dataclass
class Pushed:
    """One completed QuestionnaireResponse an EHR interface pushed to one of the apps."""

    number: int
    answers: dict[str, Any]
    status: int = 0
    response_id: str = ""


def pushed_response(content: Content, public_url: str, number: int) -> tuple[Pushed, bytes]:
    answers = full_answers(content)
    now = utcnow()
    record = ResponseRecord(
        id="assigned-by-the-service",
        status=ResponseStatus.COMPLETED,
        answers=answers,
        patient_system=MRN_SYSTEM,
        patient_value=f"MRN-{number:05d}",
        patient_name=f"Intake Patient {number}",
        updated_at=now,
        authored_at=now,
    )
    resource = to_questionnaire_response(
        record, content.questionnaire, questionnaire_to_fhir(content.questionnaire, public_url)
    )
    del resource["id"], resource["meta"]
    return Pushed(number, answers), json.dumps(resource).encode()


async def stored_by_id(database_url: str) -> tuple[dict[str, dict[str, Any]], tuple[int, int]]:
    """Every response row by id, and (delivery rows, responses with a delivery row)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id::text AS id, status, answers::text AS answers FROM responses"
        )
        counts = await connection.fetchrow("SELECT count(*), count(DISTINCT response_id) FROM deliveries")
    finally:
        await connection.close()
    by_id = {row["id"]: {"status": row["status"], "answers": json.loads(row["answers"])} for row in rows}
    return by_id, (counts[0], counts[1])


def wait_for_deliveries(deployment: Deployment, response_ids: set[str]) -> dict[str, str]:
    """Poll the outbox until every completed response's delivery is finished (or the deadline)."""
    deadline = time.monotonic() + DELIVERY_DEADLINE_SECONDS
    while True:
        statuses = asyncio.run(stored_deliveries(deployment.database))
        open_ones = [rid for rid in response_ids if statuses.get(rid) in (None, "pending", "sending")]
        if not open_ones:
            return statuses
        for worker in deployment.workers:
            assert worker.running(), f"a worker exited:\n{worker.log_tail()}"
        if time.monotonic() > deadline:
            logs = "\n".join(worker.log_tail() for worker in deployment.workers)
            pytest.fail(f"{len(open_ones)} deliveries open after {DELIVERY_DEADLINE_SECONDS} s:\n{logs}")
        time.sleep(0.5)  # polling interval, not a wait for an outcome


def test_200_completions_over_two_apps_and_two_workers_lose_nothing_deliver_once_and_share_limits(
    deployment: Deployment, fresh_ehr: Ehr, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = deployment.apps
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
    key = new_rsa("scale-out")
    *intake_clients, limited, smart_client = api_clients(
        deployment.database,
        *[("system/QuestionnaireResponse.c", None)] * math.ceil(INTAKE_COMPLETIONS / API_LIMIT),
        ("responses:read", None),
        ("system/QuestionnaireResponse.rs", public_jwks(key)),
    )
    tokens = [str(client.token) for client in intake_clients]  # API_LIMIT completions each
    pushes = [pushed_response(content, deployment.public_url, n) for n in range(INTAKE_COMPLETIONS)]

    async def push(
        clients: list[httpx.AsyncClient], at_once: asyncio.Semaphore, pushed: Pushed, body: bytes
    ) -> None:
        headers = {
            "Authorization": f"Bearer {tokens[pushed.number // API_LIMIT]}",  # within each token's limit
            "Content-Type": "application/fhir+json",
        }
        async with at_once:
            answer = await clients[pushed.number % 2].post(
                "/fhir/QuestionnaireResponse", content=body, headers=headers
            )
        pushed.status = answer.status_code
        if answer.status_code == 201:
            pushed.response_id = answer.json()["id"]

    async def everyone() -> list[Patient]:
        timeout = httpx.Timeout(60.0)
        async with (
            httpx.AsyncClient(base_url=first.base_url, timeout=timeout) as to_first,
            httpx.AsyncClient(base_url=second.base_url, timeout=timeout) as to_second,
        ):
            at_once = asyncio.Semaphore(INTAKE_AT_ONCE)
            web = [complete_questionnaire(first, content, Patient(number=n)) for n in range(WEB_PATIENTS)]
            intake = [push([to_first, to_second], at_once, pushed, body) for pushed, body in pushes]
            done = await asyncio.gather(*web, *intake)
        return [patient for patient in done if isinstance(patient, Patient)]

    patients = asyncio.run(everyone())
    for patient in patients:
        assert patient.completed, f"patient {patient.number}: {patient.stopped_by}"
        assert patient.server_errors == [], f"patient {patient.number}: {patient.statuses}"
    assert all(transport.sent >= 20 for transport in transports)  # each patient used both servers
    assert [pushed.status for pushed, _ in pushes] == [201] * INTAKE_COMPLETIONS
    web_rows = asyncio.run(stored_responses(deployment.database))
    rows, deliveries = asyncio.run(stored_by_id(deployment.database))
    completed: set[str] = set()
    for patient in patients:
        web_row: dict[str, Any] | None = row_for(web_rows, patient)
        assert web_row is not None
        assert web_row["status"] == "completed"
        assert web_row["answers"] == patient.sent_answers, f"patient {patient.number}: an answer was lost"
        completed.add(web_row["id"])
    for pushed, _ in pushes:
        assert rows[pushed.response_id] == {"status": "completed", "answers": pushed.answers}
        completed.add(pushed.response_id)
    assert len(completed) == COMPLETIONS
    assert deliveries == (COMPLETIONS, COMPLETIONS)  # one delivery row per completion

    # Both workers take jobs from the one Redis queue: every summary arrives in the EHR exactly once.
    statuses = wait_for_deliveries(deployment, completed)
    assert {statuses[rid] for rid in completed} == {"delivered"}, statuses
    ours = f"{deployment.public_url}/fhir"
    filed = Counter(
        ident["value"]
        for document in fresh_ehr.documents_of(ours)
        for ident in document["identifier"]
        if ident["system"] == f"{ours}/DocumentReference"
    )
    assert set(filed) == completed
    assert set(filed.values()) == {1}, [rid for rid, count in filed.items() if count > 1]

    # One token, alternating between the processes: the limit is counted once across both.
    headers = {"Authorization": f"Bearer {limited.token}"}
    answers = []
    for index in range(API_LIMIT + 4):
        server = (first, second)[index % 2]
        answer = httpx.get(f"{server.base_url}/api/v1/responses", headers=headers, timeout=30)
        answers.append(answer.status_code)
    assert answers[:API_LIMIT] == [200] * API_LIMIT, answers
    assert answers[API_LIMIT:] == [429] * 4, answers

    # A SMART client's assertion used at one process is refused at the other (replay cache in Redis).
    client_id = str(smart_client.client.id)
    signed = assertion(client_id, key, aud=f"{deployment.public_url}/auth/token")
    used = httpx.post(f"{first.base_url}/auth/token", data=token_form(signed), timeout=30)
    assert used.status_code == 200, used.text
    replayed = httpx.post(f"{second.base_url}/auth/token", data=token_form(signed), timeout=30)
    assert replayed.status_code == 401, replayed.text
    assert "jti" in replayed.json()["error_description"]

    for server in (first, second):
        assert server.server_errors_logged() == [], server.log_tail()
    for worker in deployment.workers:
        assert worker.errors_logged() == [], worker.log_tail()
