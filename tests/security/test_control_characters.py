"""Control characters in usernames, identifiers and names are refused, never sent to the database."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlmodel import col

from sdm_service.models import AuditEvent, PatientResponse, Role
from sdm_service.services import users
from sdm_service.services.search import SearchError, parse_identifier
from sdm_service.settings import Settings
from tests.security.support import api_token
from tests.web.patient_support import (
    db,
)

Client = AsyncTestClient[Litestar]
PASSWORD = "a-long-enough-password-42"


@pytest.mark.parametrize("username", ["dr\x00who", "dr.who\n", "\x1bdr"])
async def test_usernames_with_control_characters_are_simply_unknown(app: Litestar, username: str) -> None:
    async with db(app) as session:
        hashing = users.hashing_for(app.state.settings)
        await users.create_user(
            session, username="dr.who", password=PASSWORD, role=Role.CLINICIAN, hashing=hashing
        )
        await session.commit()
        assert await users.authenticate(session, username, PASSWORD, hashing=hashing) is None


async def test_sign_in_with_a_nul_in_the_username_is_a_normal_refusal(client: Client, app: Litestar) -> None:
    from tests.web.clinician_support import sign_in

    response = await sign_in(client, "dr\x00who")
    assert response.status_code == 401, response.text
    assert "sdm_session" not in response.cookies
    async with db(app) as session:
        failed = (
            (await session.execute(select(AuditEvent).where(col(AuditEvent.action) == "auth.sign_in.failed")))
            .scalars()
            .all()
        )
    assert [event.actor_label for event in failed] == ["dr\ufffdwho"]


@pytest.mark.parametrize("text", ["a\x00b", "sys\x00|value", "system|va\x01ue", "a\x1fb"])
def test_identifiers_with_control_characters_are_a_search_error(text: str) -> None:
    with pytest.raises(SearchError, match="control characters"):
        parse_identifier(text)


@pytest.mark.parametrize("patient", ["a\x00b", "urn:x\x00|MRN-1", "urn:x|MRN\x00"])
async def test_api_and_fhir_searches_with_nul_are_400(client: Client, app: Litestar, patient: str) -> None:
    headers = await api_token(app)
    listed = await client.get("/api/v1/responses", params={"patient": patient}, headers=headers)
    assert listed.status_code == 400, listed.text
    assert "control characters" in listed.text
    for resource in ("QuestionnaireResponse", "DocumentReference"):
        searched = await client.get(
            f"/fhir/{resource}", params={"subject:identifier": patient}, headers=headers
        )
        assert searched.status_code == 400, searched.text
        assert searched.json()["resourceType"] == "OperationOutcome"


async def test_fhir_intake_refuses_a_display_name_with_control_characters(
    client: Client, app: Litestar, settings: Settings
) -> None:
    from tests.api.test_fhir_intake import FHIR_JSON, post, questionnaire_response

    headers = await api_token(app)
    answers: dict[str, Any] = {}
    body = questionnaire_response(app, settings, answers, status="in-progress")
    body["subject"]["display"] = "Lee\x00Wong"
    refused = await post(client, headers, body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(FHIR_JSON)
    assert "subject.display" in refused.text
    async with db(app) as session:
        assert (await session.execute(select(PatientResponse))).scalars().all() == []
