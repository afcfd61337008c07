"""`sdm worker` as its own process, on the embedded queue (SQLite), against the real test EHR:
an outage then recovery, and a worker SIGKILLed mid-delivery then restarted. Every document
arrives exactly once. The tests wait on outcomes (polling), never on a fixed time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from sqlalchemy import select

from sdm_service.app import create_app
from sdm_service.delivery.dispatch import after_commit
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.models import Delivery, DeliveryStatus
from sdm_service.settings import Settings
from tests.api.conftest import completed_response, db
from tests.conftest import make_settings
from tests.ehr_servers import Ehr, ehr_overrides

pytestmark = pytest.mark.slow
DEADLINE_SECONDS = 90.0  # generous: a loaded machine is slow, and the waits end on the outcome


def _environment(settings: Settings) -> dict[str, str]:
    names = (
        "env", "database_url", "secret_key", "base_url", "ehr_fhir_base_url", "ehr_client_id",
        "ehr_scope", "delivery_queue_url", "delivery_backoff_seconds", "delivery_backoff_max_seconds",
        "delivery_lease_seconds", "ehr_timeout_seconds",
    )  # fmt: skip
    values = {}
    for name in names:
        value = getattr(settings, name)
        values[f"SDM_{name.upper()}"] = (
            value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        )
    values["SDM_EHR_PRIVATE_KEY_FILE"] = ",".join(str(p) for p in settings.ehr_private_key_file)
    return values


class Workers:
    """Start and stop `sdm worker` processes; their output goes to a log file for failures."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.environment = {**os.environ, **_environment(settings)}
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "sdm_service.cli", "worker"],
                env=self.environment,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture
def worker_settings(sqlite_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path) -> Settings:
    return make_settings(
        sqlite_url, **ehr_overrides(fresh_ehr, ehr_key_files, tmp_path, delivery_lease_seconds=2)
    )


@pytest.fixture
def workers(worker_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(worker_settings, tmp_path / "worker.log")
    yield running
    running.stop_all()


async def _until(check: Callable[[], Awaitable[bool]], what: str, log: Path) -> None:
    loop = asyncio.get_running_loop()
    ends = loop.time() + DEADLINE_SECONDS
    while not await check():
        if loop.time() > ends:
            tail = await asyncio.to_thread(log.read_text)
            pytest.fail(f"gave up waiting for {what}; worker log:\n{tail[-4000:]}")
        await asyncio.sleep(0.2)


async def _statuses(app: Litestar, response_ids: list[uuid.UUID]) -> list[str]:
    async with db(app) as session:
        rows = await session.execute(select(Delivery.status).where(Delivery.response_id.in_(response_ids)))  # type: ignore[attr-defined]
        return list(rows.scalars())


async def _complete_and_enqueue(app: Litestar, settings: Settings, value: str) -> uuid.UUID:
    """A completion, then what the completing request does after its commit."""
    response = await completed_response(app, settings, value=value)
    queue = DeliveryQueue(settings)
    async with db(app) as session:
        await after_commit(session, queue, response.id)()
    return response.id


async def test_an_outage_then_recovery_delivers_every_document_once(
    worker_settings: Settings, workers: Workers, fresh_ehr: Ehr
) -> None:
    app = create_app(worker_settings)
    fresh_ehr.control_post("faults", {"status": 503, "count": 5, "retryAfter": "0"})
    workers.start()
    ids = [await _complete_and_enqueue(app, worker_settings, f"MRN-OUTAGE-{n}") for n in range(3)]

    async def all_delivered() -> bool:
        seen = await _statuses(app, ids)
        return seen == [DeliveryStatus.DELIVERED] * 3

    await _until(all_delivered, "every delivery to be delivered", workers.log)
    for response_id in ids:
        assert len(fresh_ehr.documents_for(f"{worker_settings.base_url}/fhir", response_id)) == 1


async def test_a_worker_killed_mid_delivery_and_restarted_delivers_exactly_once(
    worker_settings: Settings, workers: Workers, fresh_ehr: Ehr
) -> None:
    app = create_app(worker_settings)
    fresh_ehr.control_post("hold", {"on": True})  # the EHR stores the document, then holds its answer
    first = workers.start()
    response_id = await _complete_and_enqueue(app, worker_settings, "MRN-SIGKILL")

    async def held() -> bool:
        return fresh_ehr.state()["held"] >= 1

    await _until(held, "the EHR to hold the worker's create", workers.log)
    first.send_signal(signal.SIGKILL)
    first.wait()
    fresh_ehr.control_post("hold", {"on": False})
    ours = f"{worker_settings.base_url}/fhir"
    assert len(fresh_ehr.documents_for(ours, response_id)) == 1  # stored, but never acknowledged
    assert await _statuses(app, [response_id]) == [DeliveryStatus.SENDING]

    workers.start()  # its sweep takes the delivery up again once the dead worker's lease runs out

    async def delivered() -> bool:
        return await _statuses(app, [response_id]) == [DeliveryStatus.DELIVERED]

    await _until(delivered, "the restarted worker to deliver", workers.log)
    assert len(fresh_ehr.documents_for(ours, response_id)) == 1
