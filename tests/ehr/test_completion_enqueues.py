"""A completion through the FHIR intake writes its delivery in the same transaction and, once
committed, hands it to the job queue; with no EHR configured nothing is written or queued."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.app import create_app
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.models import Delivery, DeliveryStatus
from sdm_service.services import api_clients
from tests.api.conftest import content_of, db, full_answers
from tests.api.test_fhir_intake import questionnaire_response
from tests.conftest import REDIS_URL, REQUIRE_REDIS, make_settings

FHIR_JSON = "application/fhir+json"


def _redis_or_skip() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required here (SDM_REQUIRE_REDIS=1) but {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The embedded queue (a SQLite file) and the shared one (Redis), each empty."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        return
    url = _redis_or_skip()
    DeliveryQueue(make_settings("sqlite:///unused.db", delivery_queue_url=url)).huey.flush()
    yield url
    DeliveryQueue(make_settings("sqlite:///unused.db", delivery_queue_url=url)).huey.flush()


async def test_a_fhir_intake_completion_is_queued_for_the_ehr(
    database_url: str, queue_url: str, ehr_key_files: list[Path]
) -> None:
    settings = make_settings(
        database_url,
        ehr_fhir_base_url="http://127.0.0.1:9/fhir",
        ehr_client_id="sdm",
        ehr_private_key_file=str(ehr_key_files[0]),
        delivery_queue_url=queue_url,
    )
    app = create_app(settings)
    async with db(app) as session:
        token = (await api_clients.create_api_client(session, "EHR", "responses:write")).token
        await session.commit()
    body = questionnaire_response(app, settings, full_answers(content_of(app)))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        created = await client.post(
            "/fhir/QuestionnaireResponse",
            content=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": FHIR_JSON},
        )
    assert created.status_code == 201, created.text
    async with db(app) as session:
        [delivery] = (await session.execute(select(Delivery))).scalars().all()
    assert str(delivery.response_id) == created.json()["id"]
    assert delivery.status == DeliveryStatus.PENDING
    assert DeliveryQueue(settings).pending_jobs() == 1  # handed to the queue after the commit
