"""POST /fhir/QuestionnaireResponse: responses captured elsewhere, validated against the
Questionnaire, summarised when completed, and refused whole (nothing stored) when anything is wrong."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.models import AuditEvent, PatientResponse, ResponseStatus
from sdm_service.settings import Settings
from tests.api.conftest import MRN_SYSTEM, content_of, count_rows, db, full_answers, validate_fhir

Client = AsyncTestClient[Litestar]
FHIR_JSON = "application/fhir+json"


def questionnaire_response(
    app: Litestar, settings: Settings, answers: dict[str, Any], status: str = "completed"
) -> dict[str, Any]:
    """A QuestionnaireResponse as another system would send it (built with the same codings)."""
    content = content_of(app)
    now = datetime.now(UTC)
    record = ResponseRecord(
        id="ignored",
        status=ResponseStatus.COMPLETED if status == "completed" else ResponseStatus.IN_PROGRESS,
        answers=answers,
        patient_system=MRN_SYSTEM,
        patient_value="MRN-500",
        patient_name="Lee Wong",
        updated_at=now,
        authored_at=now,
    )
    resource = to_questionnaire_response(
        record, content.questionnaire, questionnaire_to_fhir(content.questionnaire, settings.base_url)
    )
    del resource["id"], resource["meta"]
    return resource


def post(client: Client, headers: dict[str, str], body: Any, content_type: str = FHIR_JSON) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/fhir/QuestionnaireResponse", content=raw, headers={**headers, "Content-Type": content_type}
    )


def find_item(resource: dict[str, Any], link_id: str) -> dict[str, Any]:
    for group in resource["item"]:
        for item in group.get("item", []):
            if item["linkId"] == link_id:
                return item
    raise KeyError(link_id)


async def test_a_completed_response_is_stored_and_summarised(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    answers = full_answers(content_of(app))
    body = questionnaire_response(app, settings, answers)
    validate_fhir(body)
    created = await post(client, headers, body)
    assert created.status_code == 201, created.text
    resource = created.json()
    validate_fhir(resource)
    assert created.headers["location"] == f"{settings.base_url}/fhir/QuestionnaireResponse/{resource['id']}"
    assert resource["status"] == "completed"
    async with db(app) as session:
        row = await session.get(PatientResponse, uuid.UUID(resource["id"]))
        events = [e.action for e in (await session.execute(AuditEvent.__table__.select())).all()]
    assert row is not None
    assert (row.source, row.status) == ("fhir", ResponseStatus.COMPLETED)
    assert row.answers == answers
    assert (row.patient_system, row.patient_value, row.patient_name) == (MRN_SYSTEM, "MRN-500", "Lee Wong")
    assert row.summary is not None
    assert row.summary["discussion_points"]
    assert "api.response.create" in events

    documents = await client.get(
        "/fhir/DocumentReference", params={"subject:identifier": "MRN-500"}, headers=headers
    )
    assert documents.json()["total"] == 1
    # The same answers typed on the web give the same summary content.
    api = (await client.get(f"/api/v1/responses/{row.id}", headers=headers)).json()
    assert api["summary"]["priorities"][0]["code"] == "fewer_visits"


async def test_an_in_progress_response_may_be_partial(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    body = questionnaire_response(app, settings, {"respondent": "helper"}, status="in-progress")
    created = await post(client, headers, body, content_type="application/json")
    assert created.status_code == 201, created.text
    async with db(app) as session:
        row = await session.get(PatientResponse, uuid.UUID(created.json()["id"]))
    assert row is not None
    assert (row.status, row.summary, row.answers) == (
        ResponseStatus.IN_PROGRESS,
        None,
        {"respondent": "helper"},
    )


def _break(mutate: Any) -> Any:
    def apply(resource: dict[str, Any]) -> dict[str, Any]:
        broken = copy.deepcopy(resource)
        mutate(broken)
        return broken

    return apply


def _set_answer(link_id: str, answer: list[dict[str, Any]]) -> Any:
    return _break(lambda r: find_item(r, link_id).__setitem__("answer", answer))


def _add_item(link_id: str, answer: list[dict[str, Any]]) -> Any:
    return _break(lambda r: r["item"][0]["item"].append({"linkId": link_id, "answer": answer}))


def _drop_item(link_id: str) -> Any:
    def drop(resource: dict[str, Any]) -> None:
        for group in resource["item"]:
            group["item"] = [item for item in group["item"] if item["linkId"] != link_id]

    return _break(drop)


BAD_RESOURCES = [
    (
        "wrong resourceType",
        _break(lambda r: r.__setitem__("resourceType", "Observation")),
        400,
        "resourceType",
    ),
    ("bad status value", _break(lambda r: r.__setitem__("status", 42)), 400, "status"),
    ("item not a list", _break(lambda r: r.__setitem__("item", {"linkId": "x"})), 400, "item"),
    ("stopped status", _break(lambda r: r.__setitem__("status", "stopped")), 422, "status"),
    (
        "no version",
        _break(lambda r: r.__setitem__("questionnaire", r["questionnaire"].split("|")[0])),
        422,
        "version",
    ),
    (
        "other questionnaire",
        _break(lambda r: r.__setitem__("questionnaire", "http://x.org/Q|1.0.0")),
        422,
        "questionnaire",
    ),
    ("no subject", _break(lambda r: r.pop("subject")), 422, "subject"),
    (
        "subject by reference",
        _break(lambda r: r.__setitem__("subject", {"reference": "Patient/1"})),
        422,
        "identifier",
    ),
    ("unknown linkId", _add_item("favourite_colour", [{"valueString": "blue"}]), 422, "favourite_colour"),
    ("string for a choice", _set_answer("cancer_type", [{"valueString": "breast"}]), 422, "valueCoding"),
    (
        "code not allowed",
        _set_answer("cancer_type", [{"valueCoding": {"code": "lung"}}]),
        422,
        "Allowed codes",
    ),
    (
        "two answers to one",
        _set_answer("respondent", [{"valueCoding": {"code": "patient"}}] * 2),
        422,
        "one answer",
    ),
    ("date as string", _set_answer("consult_date", [{"valueString": "soon"}]), 422, "valueDate"),
    ("answer to display text", _add_item("about_iort", [{"valueString": "ok"}]), 422, "display"),
    ("required missing", _drop_item("leaning"), 422, "leaning"),
    (
        "disabled item answered",
        _add_item("insurance_status", [{"valueCoding": {"code": "covered"}}]),
        422,
        "apply",
    ),
]


@pytest.mark.parametrize(
    ("label", "breaker", "status", "needle"), BAD_RESOURCES, ids=[b[0] for b in BAD_RESOURCES]
)
async def test_bad_resources_are_refused_and_nothing_is_stored(
    client: Client,
    app: Litestar,
    settings: Settings,
    headers: dict[str, str],
    label: str,
    breaker: Any,
    status: int,
    needle: str,
) -> None:
    answers = full_answers(content_of(app))
    if label == "disabled item answered":  # rate cost low, so its follow-up does not apply
        answers = {k: v for k, v in answers.items() if k != "insurance_status"}
        answers["prio_cost"] = "not"
    body = breaker(questionnaire_response(app, settings, answers))
    response = await post(client, headers, body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    outcome = response.json()
    validate_fhir(outcome)
    text = json.dumps(outcome)
    assert needle in text, text
    assert await count_rows(app) == 0


async def test_malformed_unsupported_and_huge_bodies_are_refused(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    malformed = await post(client, headers, b'{"resourceType": "QuestionnaireResponse",')
    assert malformed.status_code == 400
    assert "not valid JSON" in malformed.json()["issue"][0]["diagnostics"]
    not_object = await post(client, headers, b"[1, 2]")
    assert not_object.status_code == 400
    too_deep = await post(client, headers, b"[" * 50_000 + b"]" * 50_000)
    assert too_deep.status_code == 400
    assert "nested too deeply" in too_deep.json()["issue"][0]["diagnostics"]
    xml = await post(client, headers, b"<QuestionnaireResponse/>", content_type="application/fhir+xml")
    assert xml.status_code == 415
    assert xml.json()["issue"][0]["code"] == "not-supported"
    over_limit = b"y" * settings.max_json_body_bytes
    huge_body = b'{"resourceType": "QuestionnaireResponse", "x": "' + over_limit + b'"}'
    huge = await post(client, headers, huge_body)
    assert huge.status_code == 413
    assert huge.json()["resourceType"] == "OperationOutcome"
    assert await count_rows(app) == 0
