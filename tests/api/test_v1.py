"""JSON API v1: invitations, response search with cursors, one response with its summary, the PDF."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.models import AuditEvent, Invitation, PatientResponse, ResponseStatus
from sdm_service.settings import Settings
from tests.api.conftest import (
    MRN_SYSTEM,
    completed_response,
    count_rows,
    db,
    invited_response,
)

Client = AsyncTestClient[Litestar]


async def test_creating_an_invitation_returns_the_link_once(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    body = {
        "patient": {"system": MRN_SYSTEM, "value": "MRN-77"},
        "name": "Rosa Park",
        "consult_date": "2026-12-03",
        "ttl_days": 10,
        "language": "es",
    }
    response = await client.post("/api/v1/invitations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["url"].startswith(f"{settings.base_url}/i/")
    assert response.headers["cache-control"] == "no-store"
    async with db(app) as session:
        invitation = (await session.execute(select(Invitation))).scalar_one()
        row = await session.get(PatientResponse, uuid.UUID(created["response_id"]))
        audit = (await session.execute(select(AuditEvent))).scalars().all()
    assert str(invitation.id) == created["invitation_id"]
    assert invitation.created_by_client_id is not None
    assert created["url"].rsplit("/", 1)[1] not in invitation.token_hash
    assert invitation.expires_at - invitation.created_at == timedelta(days=10)
    assert row is not None
    assert row.status == ResponseStatus.INVITED
    assert (row.patient_system, row.patient_value, row.patient_name) == (MRN_SYSTEM, "MRN-77", "Rosa Park")
    assert (invitation.language, row.language) == ("es", "es")  # the link opens in Spanish
    assert [(e.action, e.actor_type) for e in audit] == [("api.invitation.create", "api_client")]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"patient": {"system": "x"}}, "value"),
        ({"patient": {"value": "   "}}, "value"),
        ({"patient": {"value": "A"}, "ttl_days": 0}, "ttl_days"),
        ({"patient": {"value": "A"}, "consult_date": "2026-02-30"}, "consult_date"),
        ({"patient": {"value": "A"}, "surprise": 1}, "surprise"),
        ({"patient": {"value": "A\x01B"}}, "control characters"),
        ({"patient": {"value": "A"}, "language": "fr"}, "Language must be one of: en, es"),
        ([], ""),
    ],
)
async def test_bad_invitations_are_400_and_store_nothing(
    client: Client, app: Litestar, headers: dict[str, str], body: Any, needle: str
) -> None:
    response = await client.post("/api/v1/invitations", json=body, headers=headers)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["status_code"] == 400
    assert needle in response.text
    assert await count_rows(app) == 0
    assert await count_rows(app, Invitation) == 0


async def test_malformed_and_oversized_bodies_are_refused(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    json_headers = {**headers, "Content-Type": "application/json"}
    malformed = await client.post("/api/v1/invitations", content=b'{"patient": ', headers=json_headers)
    assert malformed.status_code == 400
    huge = b'{"patient": {"value": "A"}, "name": "' + b"x" * settings.max_json_body_bytes + b'"}'
    too_big = await client.post("/api/v1/invitations", content=huge, headers=json_headers)
    assert too_big.status_code == 413
    assert "too large" in too_big.json()["detail"].lower()
    assert await count_rows(app) == 0


async def test_listing_filters_by_patient_status_and_change_time(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings, value="MRN-1")
    await invited_response(app, settings, value="MRN-1", system="urn:other")
    await invited_response(app, settings, value="MRN-2")

    async def ids(**params: str) -> set[str]:
        response = await client.get("/api/v1/responses", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return {item["id"] for item in response.json()["items"]}

    assert len(await ids()) == 3
    assert await ids(patient=f"{MRN_SYSTEM}|MRN-1") == {str(done.id)}
    assert len(await ids(patient="MRN-1")) == 2
    assert await ids(patient="MRN-1", status="completed") == {str(done.id)}
    assert len(await ids(status="invited")) == 2
    later = (done.updated_at + timedelta(days=1)).isoformat()
    assert await ids(updated_since=later) == set()
    assert len(await ids(updated_since="2020-01-01T00:00:00")) == 3


async def test_cursor_pages_are_complete_and_stable_under_inserts(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    for index in range(5):
        await invited_response(app, settings, value=f"P-{index}")
    seen: list[str] = []
    cursor: str | None = None
    inserted = False
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/responses", params=params, headers=headers)).json()
        seen.extend(item["id"] for item in page["items"])
        if not inserted:  # a row created mid-paging shows up at the end, nothing is skipped
            await invited_response(app, settings, value="P-late")
            inserted = True
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 == len(set(seen))
    assert await count_rows(app) == 6


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4IiwgInkiXQ"}, "cursor"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"status": "done"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1000"}, "limit"),
        ({"patient": "a|b|c"}, "identifier"),
    ],
)
async def test_bad_search_parameters_are_400(
    client: Client, headers: dict[str, str], params: dict[str, str], needle: str
) -> None:
    response = await client.get("/api/v1/responses", params=params, headers=headers)
    assert response.status_code == 400
    assert needle in response.text


async def test_one_response_has_answers_and_the_summary(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings)
    response = await client.get(f"/api/v1/responses/{done.id}", headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["status"] == "completed"
    assert body["questionnaire"] == {"slug": "iort-sdm", "version": done.questionnaire_version}
    assert body["patient"]["value"] == "MRN-1"
    assert body["answers"] == done.answers
    summary = body["summary"]
    assert summary["priorities"][0]["rank"] == 1
    assert summary["conflict"]["score"] == body["conflict_score"]
    assert summary["discussion_points"]
    # Issue 13: points refer to the grid of good sides and downsides, or carry facts stated nowhere else.
    assert all(point["evidence"] or point["rows"] for point in summary["discussion_points"])
    assert summary["grid"]
    assert body["pdf_url"].endswith(f"/api/v1/responses/{done.id}/summary.pdf")

    async with db(app) as session:
        reads = (
            (await session.execute(select(AuditEvent).where(AuditEvent.action == "api.response.read")))
            .scalars()
            .all()
        )
        everything = (await session.execute(select(AuditEvent))).scalars().all()
    assert [(e.actor_type, e.entity_id) for e in reads] == [("api_client", str(done.id))], [
        (e.action, e.entity_id, e.occurred_at) for e in everything
    ]


async def test_unknown_response_is_404_json(client: Client, headers: dict[str, str]) -> None:
    for path in (f"/api/v1/responses/{uuid.uuid4()}", f"/api/v1/responses/{uuid.uuid4()}/summary.pdf"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404
        assert response.json()["status_code"] == 404


async def test_pdf_is_served_for_completed_responses_only(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings)
    pdf = await client.get(f"/api/v1/responses/{done.id}/summary.pdf", headers=headers)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"
    assert "attachment" in pdf.headers["content-disposition"]
    again = await client.get(f"/api/v1/responses/{done.id}/summary.pdf", headers=headers)
    assert again.content == pdf.content

    invited = await invited_response(app, settings)
    pending = await client.get(f"/api/v1/responses/{invited.id}/summary.pdf", headers=headers)
    assert pending.status_code == 409
    assert "completed" in pending.json()["detail"]
