"""The integration story end to end: the EHR invites a patient, the patient completes the
questionnaire through their link, and the EHR finds the result by patient identifier in the JSON
API and in FHIR, and fetches the PDF both ways."""

from __future__ import annotations

import base64
import uuid
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.models import PatientResponse
from sdm_service.services.invitations import find_usable_invitation
from sdm_service.services.responses import complete_response, open_invitation
from sdm_service.settings import Settings
from tests.api.conftest import MRN_SYSTEM, content_of, db, full_answers, validate_fhir


async def _patient_completes(app: Litestar, settings: Settings, link: str) -> None:
    """What the patient web flow does with the link: open it, answer, submit."""
    token = urlsplit(link).path.rsplit("/", 1)[1]
    content = content_of(app)
    async with db(app) as session:
        invitation = await find_usable_invitation(session, token)
        response, _ = await open_invitation(session, invitation, link_token=token)
        response.answers = full_answers(content)
        await complete_response(session, response, content, settings)
        await session.commit()


async def test_invite_complete_find_and_fetch_the_pdf(
    client: AsyncTestClient[Litestar], app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    invited = await client.post(
        "/api/v1/invitations",
        json={"patient": {"system": MRN_SYSTEM, "value": "MRN-31415"}, "name": "Sam Lee"},
        headers=headers,
    )
    assert invited.status_code == 201
    response_id = invited.json()["response_id"]

    before = (
        await client.get("/api/v1/responses", params={"patient": f"{MRN_SYSTEM}|MRN-31415"}, headers=headers)
    ).json()
    assert [(item["id"], item["status"]) for item in before["items"]] == [(response_id, "invited")]

    await _patient_completes(app, settings, invited.json()["url"])

    # JSON API: find by identifier, read the summary, download the PDF.
    found = (
        await client.get(
            "/api/v1/responses",
            params={"patient": f"{MRN_SYSTEM}|MRN-31415", "status": "completed"},
            headers=headers,
        )
    ).json()
    assert [item["id"] for item in found["items"]] == [response_id]
    detail = (await client.get(f"/api/v1/responses/{response_id}", headers=headers)).json()
    assert detail["summary"]["discussion_points"]
    pdf = await client.get(urlsplit(detail["pdf_url"]).path, headers=headers)
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")

    # FHIR: the same response, its document and the same PDF bytes.
    subject = {"subject:identifier": f"{MRN_SYSTEM}|MRN-31415"}
    responses = (
        await client.get(
            "/fhir/QuestionnaireResponse", params={**subject, "status": "completed"}, headers=headers
        )
    ).json()
    validate_fhir(responses)
    assert [entry["resource"]["id"] for entry in responses["entry"]] == [response_id]
    documents = (await client.get("/fhir/DocumentReference", params=subject, headers=headers)).json()
    validate_fhir(documents)
    binary_url = documents["entry"][0]["resource"]["content"][0]["attachment"]["url"]
    binary = (await client.get(urlsplit(binary_url).path, headers=headers)).json()
    validate_fhir(binary)
    assert base64.b64decode(binary["data"]) == pdf.content

    async with db(app) as session:
        stored = await session.get(PatientResponse, uuid.UUID(response_id))
    assert stored is not None
    assert stored.source == "web"
