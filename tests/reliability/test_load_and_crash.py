"""The service under load and through a crash, as deployed: `sdm run` with two uvicorn workers on
PostgreSQL, patients on loopback completing the whole questionnaire over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdm_service import migrate
from sdm_service.content import Content, load_library
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.settings import PROJECT_ROOT
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.reliability.live import LiveServer, Patient, complete_questionnaire, row_for, stored_responses

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LOAD_PATIENTS = 200
LOAD_IN_FLIGHT = 40  # bounded: at most this many patients active at once
CRASH_PATIENTS = 40
ACKS_BEFORE_CRASH = 8


@pytest.fixture
def content() -> Content:
    return load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm")


@pytest.fixture
def server_database() -> Iterator[str]:
    url = create_postgres_database()
    migrate.upgrade(url, configure_logging=False)
    yield url
    drop_postgres_database(url)


@pytest.fixture
def server(server_database: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(server_database, tmp_path / "server.log", workers=2)
    live.start()
    yield live
    live.stop()


def assert_stored_intact(row: dict[str, object] | None, patient: Patient) -> None:
    assert row is not None, f"patient {patient.number}: no stored response"
    assert row["status"] == "completed", f"patient {patient.number}: {row['status']}"
    assert row["completed_at"] is not None
    snapshot = SummarySnapshot.model_validate(row["summary"])
    assert snapshot.response_id == row["id"]
    stored = row["answers"]
    assert isinstance(stored, dict)
    assert stored == patient.sent_answers, f"patient {patient.number}: answers differ"


async def test_200_patients_complete_concurrently_with_no_server_error(
    server: LiveServer, content: Content
) -> None:
    gate = asyncio.Semaphore(LOAD_IN_FLIGHT)

    async def one(number: int) -> Patient:
        async with gate:
            return await complete_questionnaire(server, content, Patient(number))

    patients = await asyncio.gather(*(one(number) for number in range(LOAD_PATIENTS)))

    assert {p.number: p.stopped_by for p in patients if p.stopped_by} == {}, server.log_tail()
    assert {p.number: p.server_errors for p in patients if p.server_errors} == {}
    assert all(p.completed for p in patients)
    rows = await stored_responses(server.database_url)
    assert len(rows) == LOAD_PATIENTS
    for patient in patients:
        assert_stored_intact(row_for(rows, patient), patient)
    assert server.server_errors_logged() == []


async def test_a_crash_mid_load_loses_no_acknowledged_completion_and_the_rest_can_resume(
    server: LiveServer, content: Content
) -> None:
    acknowledged = 0
    enough = asyncio.Event()

    async def one(number: int) -> Patient:
        nonlocal acknowledged
        ack = asyncio.Event()
        patient = await complete_questionnaire(server, content, Patient(number), on_ack=ack)
        if ack.is_set():
            acknowledged += 1
            if acknowledged >= ACKS_BEFORE_CRASH:
                enough.set()
        return patient

    everyone = asyncio.gather(*(one(number) for number in range(CRASH_PATIENTS)))
    waiting = asyncio.ensure_future(enough.wait())
    await asyncio.wait([waiting, everyone], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    server.kill9()  # mid-load: other patients are between steps or in the middle of a request
    patients = await everyone
    interrupted = [p for p in patients if not p.completed]
    assert interrupted, "the crash came after everyone finished; nothing was tested"
    assert {p.number: p.server_errors for p in patients if p.server_errors} == {}
    lost_connection = ("ConnectError", "ReadError", "RemoteProtocolError", "WriteError", "ReadTimeout")
    assert {p.number: p.stopped_by for p in interrupted if p.stopped_by not in lost_connection} == {}

    server.start()  # same database, as after a restart
    rows = await stored_responses(server.database_url)
    for patient in patients:
        if patient.completed:
            assert_stored_intact(row_for(rows, patient), patient)
        elif patient.token is not None:
            # Every answer the server acknowledged is still there; a save whose acknowledgement
            # the crash swallowed may or may not have landed, but only as the patient sent it.
            row = row_for(rows, patient)
            assert row is not None, f"patient {patient.number} lost their response"
            assert row["status"] in ("in_progress", "completed")
            assert (row["summary"] is None) == (row["status"] == "in_progress")  # nothing half-written
            stored = row["answers"]
            assert {k: stored.get(k) for k in patient.saved_answers} == patient.saved_answers
            assert {k: patient.sent_answers.get(k) for k in stored} == stored

    resumable = [p for p in interrupted if p.token is not None]
    resumed = await asyncio.gather(*(complete_questionnaire(server, content, p) for p in resumable))
    assert {p.number: p.stopped_by for p in resumed if not p.completed} == {}, server.log_tail()
    rows = await stored_responses(server.database_url)
    for patient in resumed:
        assert_stored_intact(row_for(rows, patient), patient)
