"""FHIR in two languages: the Questionnaire carries `language` and the standard translation
extension on every text; a QuestionnaireResponse with Spanish display texts is accepted and keeps
its language; QuestionnaireResponse and DocumentReference carry the response's language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar
from sqlalchemy import select

from sdm_service.content.fhir import TRANSLATION_URL, questionnaire_to_fhir
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.models import PatientResponse, ResponseStatus
from sdm_service.settings import Settings
from tests.api.conftest import MRN_SYSTEM, MakeToken, bearer, content_of, db, full_answers, validate_fhir
from tests.api.test_fhir_intake import Client, post


def translations(element: dict[str, Any], key: str) -> dict[str, str]:
    found = {}
    for extension in element.get(f"_{key}", {}).get("extension", []):
        assert extension["url"] == TRANSLATION_URL
        parts = {part["url"]: part for part in extension["extension"]}
        found[parts["lang"]["valueCode"]] = parts["content"]["valueString"]
    return found


def texts(node: Any) -> list[tuple[dict[str, Any], str]]:
    """Every (element, key) holding a text a person reads."""
    found: list[tuple[dict[str, Any], str]] = []
    if isinstance(node, dict):
        found += [(node, key) for key in ("title", "text", "display") if isinstance(node.get(key), str)]
        for key, value in node.items():
            if not key.startswith("_") and key not in ("coding",):
                found += texts(value)
    elif isinstance(node, list):
        for value in node:
            found += texts(value)
    return found


async def test_the_questionnaire_carries_every_text_in_spanish(
    client: Client, headers: dict[str, str]
) -> None:
    read = await client.get("/fhir/Questionnaire/iort-sdm", headers=headers)
    resource = read.json()
    validate_fhir(resource)
    assert resource["language"] == "en"
    assert translations(resource, "title") == {"es": "Pensar en la radiación durante la cirugía (IORT)"}
    every = texts(resource["item"])
    missing = [
        element.get("linkId") or element.get("code")
        for element, key in every
        if not translations(element, key)
    ]
    assert missing == []
    assert len(every) > 150


async def test_a_spanish_response_is_accepted_and_keeps_its_language(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    content = content_of(app)
    spanish = content.in_language("es")
    answers = full_answers(content)
    now = datetime.now(UTC)
    record = ResponseRecord(
        id="ignored",
        status=ResponseStatus.COMPLETED,
        answers=answers,
        patient_system=MRN_SYSTEM,
        patient_value="MRN-600",
        patient_name="Ana Díaz",
        updated_at=now,
        authored_at=now,
        language="es",
    )
    # Built on the Spanish form: every display text is Spanish, the codes are the same.
    body = to_questionnaire_response(
        record, spanish.questionnaire, questionnaire_to_fhir(spanish.questionnaire, settings.base_url)
    )
    del body["id"], body["meta"]
    body["questionnaire"] = f"{settings.base_url}/fhir/Questionnaire/iort-sdm|{content.version}"
    assert "Muy importante" in str(body)
    created = await post(client, headers, body)
    assert created.status_code == 201, created.text
    resource = created.json()
    assert resource["language"] == "es"
    async with db(app) as session:
        row = await session.get(PatientResponse, uuid.UUID(resource["id"]))
    assert row is not None
    assert row.language == "es"
    assert row.answers == answers
    assert row.summary is not None
    assert row.summary["language"] == "es"
    assert row.summary["translations"]["en"]["language"] == "en"
    found = await client.get(
        "/fhir/DocumentReference", params={"subject:identifier": "MRN-600"}, headers=headers
    )
    (entry,) = found.json()["entry"]
    document = entry["resource"]
    validate_fhir(document)
    assert document["language"] == "es"
    assert document["content"][0]["attachment"]["language"] == "es"


async def test_a_task_in_spanish_makes_a_spanish_invitation(
    client: Client, app: Litestar, make_token: MakeToken
) -> None:
    from tests.api.test_fhir_task import TASK_SCOPES, _create, _link, order

    ehr = bearer(await make_token(TASK_SCOPES))
    task = await _create(client, ehr, order("MRN-ES-9", language="es-MX"))
    link = _link(task)
    assert link is not None
    opened = await client.get(urlsplit(link).path)
    assert '<html lang="es">' in opened.text
    async with db(app) as session:
        (row,) = [
            r
            for r in (await session.execute(select(PatientResponse))).scalars()
            if r.patient_value == "MRN-ES-9"
        ]
    assert row.language == "es"
