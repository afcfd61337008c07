"""Issue 15 item 4: the log answers "who saw patient X" for the lists too (the worklist and the
invitations page record which responses they showed, and filtering the log by a response id finds
them), and an empty /api/v1/responses search is recorded as the same FHIR search is."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.db import create_engine
from sdm_service.models import ResponseStatus
from sdm_service.services import api_clients
from sdm_service.services.audit_query import AuditFilters, audit_page
from sdm_service.services.invitations import create_invitation
from sdm_service.settings import Settings
from tests.database import db
from tests.web.clinician_support import add_response, audit_events, signed_in

Client = AsyncTestClient[Litestar]


async def _actions_found_by_entity(app: Litestar, entity_id: str) -> list[str]:
    engine = create_engine(app.state.settings)
    try:
        async with AsyncSession(engine) as session:
            found = await audit_page(session, AuditFilters(entity_id=entity_id))
    finally:
        await engine.dispose()
    return [event.action for event in found.events]


async def test_the_worklist_records_which_responses_it_showed(client: Client, app: Litestar) -> None:
    shown = {
        await add_response(app, patient_value="MRN-31"),
        await add_response(app, patient_value="MRN-32", status=ResponseStatus.IN_PROGRESS),
    }
    await signed_in(client, app, "list.viewer")
    page = await client.get("/clinician")
    assert page.status_code == 200
    assert "MRN-31" in page.text
    (view,) = await audit_events(app, "worklist.view")
    assert {str(response_id) for response_id in shown} == set(view.detail["response_ids"])
    for response_id in shown:
        assert "worklist.view" in await _actions_found_by_entity(app, str(response_id))
    assert await _actions_found_by_entity(app, "00000000-0000-0000-0000-000000000000") == []


async def test_the_invitations_page_records_which_responses_it_listed(
    client: Client, app: Litestar, settings: Settings
) -> None:
    async with db(app) as session:
        created = await create_invitation(
            session,
            settings,
            app.state.library.get("iort-sdm"),
            patient_value="MRN-77",
            patient_name="Ana Ruiz",
        )
        await session.commit()
    await signed_in(client, app, "invites.viewer")
    page = await client.get("/clinician/invitations")
    assert page.status_code == 200
    assert "MRN-77" in page.text
    (view,) = await audit_events(app, "invitations.view")
    assert view.detail["response_ids"] == [str(created.response.id)]
    assert await _actions_found_by_entity(app, str(created.response.id)) == ["invitations.view"]


async def test_an_empty_api_search_is_recorded_as_the_fhir_search_is(client: Client, app: Litestar) -> None:
    async with db(app) as session:
        api_client = await api_clients.create_api_client(session, "EHR search", "responses:read")
        await session.commit()
    headers = {"Authorization": f"Bearer {api_client.token}"}
    listed = await client.get("/api/v1/responses", params={"patient": "MRN-404"}, headers=headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    fhir = await client.get(
        "/fhir/QuestionnaireResponse", params={"subject:identifier": "MRN-404"}, headers=headers
    )
    assert fhir.json()["total"] == 0
    events = await audit_events(app, "api.response.search")
    assert [
        (e.actor_type, e.entity_type, e.entity_id, e.detail["via"], e.detail["total"]) for e in events
    ] == [
        ("api_client", "response", "", "list", 0),
        ("api_client", "response", "", "fhir-search", 0),
    ]
    assert events[0].detail["search"] == {"patient": "MRN-404", "limit": 50}
    assert events[0].detail["path"] == "/api/v1/responses"


# Refused requests (issue 15 item 4): 401, 403 and 429 on the workspace, the API and FHIR are
# recorded, counted per address, status and area like other refusals (item 5).


async def test_a_clinician_refused_an_admin_page_is_recorded(client: Client, app: Litestar) -> None:
    user_id = await signed_in(client, app, "not.an.admin")
    refused = await client.get("/clinician/admin/audit")
    assert refused.status_code == 403
    (event,) = await audit_events(app, "request.refused")
    assert (event.actor_type, event.actor_id, event.actor_label) == (
        "clinician",
        str(user_id),
        "not.an.admin",
    )
    assert event.detail == {"status": 403, "method": "GET", "path": "/clinician/admin/audit"} | {
        key: event.detail[key] for key in ("refusals_in_window", "window_started_at", "window_seconds")
    }
    assert event.detail["refusals_in_window"] == 1


async def test_refused_api_and_fhir_requests_are_recorded_and_a_flood_is_counted(
    client: Client, app: Litestar
) -> None:
    async with db(app) as session:
        reader = await api_clients.create_api_client(session, "EHR invite only", "invitations:write")
        await session.commit()
    for _ in range(12):
        assert (await client.get("/api/v1/responses")).status_code == 401
    wrong_scope = await client.get(
        "/fhir/QuestionnaireResponse", headers={"Authorization": f"Bearer {reader.token}"}
    )
    assert wrong_scope.status_code == 403
    events = await audit_events(app, "request.refused")
    assert [(e.detail["status"], e.detail["path"], e.detail["refusals_in_window"]) for e in events] == [
        (401, "/api/v1/responses", 1),
        (401, "/api/v1/responses", 10),  # the 12 refusals wrote two events
        (403, "/fhir/QuestionnaireResponse", 1),
    ]
    assert {e.actor_type for e in events} == {"anonymous"}


async def test_a_rate_limited_api_request_is_recorded(database_url: str) -> None:
    from sdm_service.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, api_requests_per_window=1, api_request_window_seconds=600))
    async with db(app) as session:
        reader = await api_clients.create_api_client(session, "EHR busy", "responses:read")
        await session.commit()
    headers = {"Authorization": f"Bearer {reader.token}"}
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as limited:
        assert (await limited.get("/api/v1/responses", headers=headers)).status_code == 200
        assert (await limited.get("/api/v1/responses", headers=headers)).status_code == 429
    (event,) = await audit_events(app, "request.refused")
    assert (event.detail["status"], event.detail["path"]) == (429, "/api/v1/responses")
