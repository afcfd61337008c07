"""Write-back against the real test EHR (Medplum FHIR router + oidc-provider), one attempt at a time
in this process: what arrives, retries, refusals, dead letters, and nothing sent without an EHR."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from pathlib import Path

from litestar import Litestar
from sqlalchemy import select, update
from sqlmodel import col

from sdm_service.app import create_app
from sdm_service.delivery import outbox
from sdm_service.delivery.attempt import attempt
from sdm_service.delivery.runtime import WorkerRuntime
from sdm_service.models import AuditEvent, Delivery, DeliveryStatus, SummaryDocument
from sdm_service.settings import Settings
from tests.api.conftest import completed_response, count_rows, db
from tests.conftest import make_settings
from tests.ehr_servers import Ehr, ehr_overrides


def _app(database_url: str, ehr: Ehr, keys: list[Path], tmp_path: Path, **more: object) -> Litestar:
    return create_app(make_settings(database_url, **ehr_overrides(ehr, keys, tmp_path, **more)))


async def _delivery(app: Litestar, response_id: uuid.UUID) -> Delivery:
    async with db(app) as session:
        row = (
            await session.execute(select(Delivery).where(Delivery.response_id == response_id))
        ).scalar_one()
        return row


async def _attempts(settings: Settings, delivery_id: uuid.UUID, times: int) -> list[str]:
    """Run up to `times` attempts (as a worker would, each when due); the states they left."""
    runtime = await WorkerRuntime.start(settings)
    states = []
    try:
        for _ in range(times):
            async with runtime.engine.begin() as connection:  # due now: the test does not wait
                await connection.execute(
                    update(Delivery)
                    .where(col(Delivery.id) == delivery_id)
                    .values(next_attempt_at=col(Delivery.created_at))
                )
            finished = await attempt(
                runtime.engine, runtime.ehr, settings, runtime.library, delivery_id, random.Random(1)
            )
            assert finished is not None
            states.append(finished.status)
            if finished.retry_in is None:
                break
    finally:
        await runtime.close()
    return states


async def test_a_completed_summary_arrives_in_the_ehr_once(
    database_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(database_url, fresh_ehr, ehr_key_files, tmp_path, ehr_send_questionnaire_response=True)
    settings: Settings = app.state.settings
    response = await completed_response(app, settings, value="MRN-WB-1")
    delivery = await _delivery(app, response.id)
    assert delivery.status == DeliveryStatus.PENDING  # written with the completion

    assert await _attempts(settings, delivery.id, 1) == [DeliveryStatus.DELIVERED]

    ours = f"{settings.base_url}/fhir"
    [document] = fresh_ehr.documents_for(ours, response.id)
    async with db(app) as session:
        stored = await session.get(SummaryDocument, response.id)
    assert stored is not None
    attachment = document["content"][0]["attachment"]
    assert base64.b64decode(attachment["data"]) == stored.pdf
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(stored.pdf).digest()).decode()
    assert document["subject"]["identifier"]["value"] == "MRN-WB-1"
    [questionnaire_response] = fresh_ehr.search(
        f"QuestionnaireResponse?identifier={ours}/QuestionnaireResponse|{response.id}"
    )
    assert (
        document["context"]["related"][0]["reference"]
        == f"QuestionnaireResponse/{questionnaire_response['id']}"
    )

    delivered = await _delivery(app, response.id)
    assert delivered.document_reference == f"DocumentReference/{document['id']}"
    async with db(app) as session:
        actions = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert "delivery.delivered" in actions

    # The acknowledgement lost (a worker died after the EHR stored it): the next attempt finds it.
    async with db(app) as session:
        row = await session.get(Delivery, delivery.id)
        assert row is not None
        row.status = DeliveryStatus.PENDING
        await session.commit()
    assert await _attempts(settings, delivery.id, 1) == [DeliveryStatus.DELIVERED]
    assert len(fresh_ehr.documents_for(ours, response.id)) == 1


async def test_binary_first_then_a_document_that_points_to_it(
    sqlite_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(sqlite_url, fresh_ehr, ehr_key_files, tmp_path, ehr_attachment="binary")
    settings: Settings = app.state.settings
    response = await completed_response(app, settings, value="MRN-WB-2")
    delivery = await _delivery(app, response.id)
    assert await _attempts(settings, delivery.id, 1) == [DeliveryStatus.DELIVERED]
    [document] = fresh_ehr.documents_for(f"{settings.base_url}/fhir", response.id)
    attachment = document["content"][0]["attachment"]
    assert "data" not in attachment
    binary = fresh_ehr.read(attachment["url"])  # the Binary the document points to, in the EHR
    assert binary["resourceType"] == "Binary"
    assert binary["contentType"] == "application/pdf"
    assert (await _delivery(app, response.id)).binary_reference == attachment["url"]


async def test_an_ehr_answering_503_for_a_while_gets_every_document_once(
    sqlite_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(sqlite_url, fresh_ehr, ehr_key_files, tmp_path)
    settings: Settings = app.state.settings
    responses = [await completed_response(app, settings, value=f"MRN-503-{n}") for n in range(3)]
    fresh_ehr.control_post("faults", {"status": 503, "count": 4, "retryAfter": "0"})
    for response in responses:
        delivery = await _delivery(app, response.id)
        states = await _attempts(settings, delivery.id, 6)
        assert states[-1] == DeliveryStatus.DELIVERED
    async with db(app) as session:
        retried = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "delivery.retry_scheduled")))
            .scalars()
            .all()
        )
    assert retried
    assert "503" in retried[0].detail["reason"]
    for response in responses:
        assert len(fresh_ehr.documents_for(f"{settings.base_url}/fhir", response.id)) == 1


async def test_a_4xx_fails_at_once_with_the_operation_outcome_kept(
    database_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(database_url, fresh_ehr, ehr_key_files, tmp_path)
    settings: Settings = app.state.settings
    response = await completed_response(app, settings, value="MRN-WB-422")
    delivery = await _delivery(app, response.id)
    fresh_ehr.control_post("faults", {"status": 422, "count": 1})
    assert await _attempts(settings, delivery.id, 3) == [DeliveryStatus.FAILED]
    failed = await _delivery(app, response.id)
    assert "422" in failed.last_error
    assert failed.outcome is not None
    assert failed.outcome["resourceType"] == "OperationOutcome"
    # Nothing lost: a retry by hand delivers it.
    async with db(app) as session:
        await outbox.retry_now(session, delivery.id, outbox.WORKER)
        await session.commit()
    assert await _attempts(settings, delivery.id, 1) == [DeliveryStatus.DELIVERED]


async def test_the_last_failed_attempt_dead_letters(
    sqlite_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(sqlite_url, fresh_ehr, ehr_key_files, tmp_path, delivery_max_attempts=2)
    settings: Settings = app.state.settings
    response = await completed_response(app, settings, value="MRN-WB-DEAD")
    delivery = await _delivery(app, response.id)
    fresh_ehr.control_post("faults", {"status": 500, "count": 5})
    assert await _attempts(settings, delivery.id, 5) == [DeliveryStatus.PENDING, DeliveryStatus.DEAD]
    assert "500" in (await _delivery(app, response.id)).last_error


async def test_a_refusing_token_endpoint_fails_with_the_reason_and_loses_nothing(
    sqlite_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(sqlite_url, fresh_ehr, ehr_key_files, tmp_path, ehr_client_id="not-registered")
    settings: Settings = app.state.settings
    response = await completed_response(app, settings, value="MRN-WB-TOKEN")
    delivery = await _delivery(app, response.id)
    assert await _attempts(settings, delivery.id, 3) == [DeliveryStatus.FAILED]
    failed = await _delivery(app, response.id)
    assert "invalid_client" in failed.last_error
    assert fresh_ehr.documents_for(f"{settings.base_url}/fhir", response.id) == []
    # Registered properly now: the same delivery goes through.
    fixed = make_settings(settings.database_url, **ehr_overrides(fresh_ehr, ehr_key_files, tmp_path))
    async with db(app) as session:
        await outbox.retry_now(session, delivery.id, outbox.WORKER)
        await session.commit()
    assert await _attempts(fixed, delivery.id, 1) == [DeliveryStatus.DELIVERED]


async def test_the_token_url_given_in_settings_is_used(
    sqlite_url: str, fresh_ehr: Ehr, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    app = _app(sqlite_url, fresh_ehr, ehr_key_files, tmp_path, ehr_token_url=fresh_ehr.token_url)
    settings: Settings = app.state.settings
    response = await completed_response(app, settings, value="MRN-WB-URL")
    delivery = await _delivery(app, response.id)
    assert await _attempts(settings, delivery.id, 1) == [DeliveryStatus.DELIVERED]


async def test_without_an_ehr_nothing_is_queued(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(sqlite_url, delivery_queue_url=f"sqlite:///{tmp_path / 'q.db'}"))
    await completed_response(app, app.state.settings, value="MRN-NO-EHR")
    assert await count_rows(app, Delivery) == 0
    assert not (tmp_path / "q.db").exists()
