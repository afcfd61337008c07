"""The administrators' deliveries page: states and reasons listed (audited), "retry now" behind CSRF."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.app import create_app
from sdm_service.audit import LISTED_KEY
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.models import Delivery, DeliveryStatus, Role
from tests.api.conftest import completed_response, db
from tests.conftest import make_settings
from tests.web.clinician_support import audit_events, post_form, signed_in


async def test_admins_see_failures_with_the_reason_and_can_retry_now(
    sqlite_url: str, ehr_key_files: list[Path], tmp_path: Path
) -> None:
    settings = make_settings(
        sqlite_url,
        ehr_fhir_base_url="http://127.0.0.1:9/fhir",
        ehr_client_id="sdm",
        ehr_private_key_file=str(ehr_key_files[0]),
        delivery_queue_url=f"sqlite:///{tmp_path / 'queue.db'}",
    )
    app = create_app(settings)
    response = await completed_response(app, settings, value="MRN-ADMIN")
    async with db(app) as session:
        delivery = (await session.execute(select(Delivery))).scalar_one()
        delivery.status = DeliveryStatus.FAILED
        delivery.attempts = 1
        delivery.last_error = "DocumentReference: the EHR answered 422 (subject is required)"
        await session.commit()

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await signed_in(client, app, "admin1", role=Role.ADMIN)
        page = await client.get("/clinician/admin/deliveries")
        assert page.status_code == 200
        assert "subject is required" in page.text
        assert f"/clinician/admin/deliveries/{delivery.id}/retry" in page.text
        [listing] = await audit_events(app, "deliveries.list")
        assert str(response.id) in listing.detail[LISTED_KEY]

        refused = await client.post(f"/clinician/admin/deliveries/{delivery.id}/retry")
        assert refused.status_code == 403  # no CSRF token
        retried = await post_form(client, f"/clinician/admin/deliveries/{delivery.id}/retry")
        assert retried.status_code == 303

    async with db(app) as session:
        again = await session.get(Delivery, delivery.id)
    assert again is not None
    assert (again.status, again.attempts) == (DeliveryStatus.PENDING, 0)
    assert await audit_events(app, "delivery.retry_requested")
    assert DeliveryQueue(settings).pending_jobs() == 1  # the retry, handed to the queue


async def test_clinicians_who_are_not_admins_cannot_see_it(sqlite_url: str) -> None:
    app = create_app(make_settings(sqlite_url))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        await signed_in(client, app, "clin1", role=Role.CLINICIAN)
        page = await client.get("/clinician/admin/deliveries", follow_redirects=False)
    assert page.status_code in (303, 403)
