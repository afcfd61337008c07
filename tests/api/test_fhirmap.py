"""The pure FHIR mappings, without HTTP or a database."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sdm_service.content import load_library
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.fhirmap.bundle import searchset
from sdm_service.fhirmap.capability import capability_statement
from sdm_service.fhirmap.document import binary, document_reference
from sdm_service.fhirmap.outcome import error_outcome
from sdm_service.fhirmap.questionnaire_response import (
    ResponseRecord,
    answers_from_questionnaire_response,
    to_questionnaire_response,
)
from sdm_service.settings import PROJECT_ROOT
from tests.api.conftest import full_answers, validate_fhir

BASE = "https://sdm.example.org"
CONTENT = load_library(Path(PROJECT_ROOT / "questionnaires")).get("iort-sdm")
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def record(answers: dict[str, object], status: str = "completed") -> ResponseRecord:
    return ResponseRecord(
        id=str(uuid.uuid4()),
        status=status,
        answers=answers,
        patient_system="",
        patient_value="MRN-1",
        patient_name="",
        updated_at=NOW,
        authored_at=NOW,
        version_id=3,
    )


def test_answers_survive_a_round_trip_through_fhir() -> None:
    fhir_questionnaire = questionnaire_to_fhir(CONTENT.questionnaire, BASE)
    answers = full_answers(CONTENT)
    resource = to_questionnaire_response(record(answers), CONTENT.questionnaire, fhir_questionnaire)
    validate_fhir(resource)
    assert resource["meta"] == {"lastUpdated": "2026-11-22T09:30:00.000Z", "versionId": "3"}
    assert resource["subject"] == {"type": "Patient", "identifier": {"value": "MRN-1"}}
    back, problems = answers_from_questionnaire_response(resource, CONTENT.questionnaire, fhir_questionnaire)
    assert problems == []
    assert back == answers


def test_a_self_started_response_has_no_subject_and_still_validates() -> None:
    fhir_questionnaire = questionnaire_to_fhir(CONTENT.questionnaire, BASE)
    anonymous = dataclasses.replace(record(full_answers(CONTENT)), patient_value="")
    resource = to_questionnaire_response(anonymous, CONTENT.questionnaire, fhir_questionnaire)
    validate_fhir(resource)
    assert "subject" not in resource


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("invited", "in-progress"),
        ("in_progress", "in-progress"),
        ("completed", "completed"),
        ("reviewed", "completed"),
    ],
)
def test_statuses_map_to_fhir(ours: str, theirs: str) -> None:
    fhir_questionnaire = questionnaire_to_fhir(CONTENT.questionnaire, BASE)
    resource = to_questionnaire_response(record({}, ours), CONTENT.questionnaire, fhir_questionnaire)
    validate_fhir(resource)
    assert resource["status"] == theirs


def test_unreadable_answers_are_reported_with_their_location() -> None:
    resource = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [
            {"linkId": "step-about", "item": [{"linkId": "respondent", "answer": [{"valueBoolean": True}]}]},
            {"linkId": "nope", "answer": [{"valueString": "x"}]},
        ],
    }
    answers, problems = answers_from_questionnaire_response(
        resource, CONTENT.questionnaire, questionnaire_to_fhir(CONTENT.questionnaire, BASE)
    )
    assert answers == {}
    assert [path for path, _ in problems] == [
        "QuestionnaireResponse.item[0].item[0]",
        "QuestionnaireResponse.item[1]",
    ]
    assert "valueCoding" in problems[0][1]
    assert "Unknown linkId 'nope'" in problems[1][1]


def test_documents_bundles_outcomes_and_capabilities_validate() -> None:
    document = document_reference(
        response_id="abc",
        base_url=f"{BASE}/fhir",
        patient_system="urn:x",
        patient_value="1",
        patient_name="Ana",
        completed_at=NOW,
        updated_at=NOW,
        title="Summary",
        filename="summary.pdf",
        size=8,
        sha1_base64=base64.b64encode(hashlib.sha1(b"%PDF-1.4").digest()).decode(),
    )
    validate_fhir(document)
    attachment = document["content"][0]["attachment"]
    assert attachment["url"] == f"{BASE}/fhir/Binary/abc"
    assert (attachment["size"], attachment["hash"]) == (8, "GChKT9CWeATJoCy1voZ5i1RQkVM=")
    validate_fhir(binary("abc", b"%PDF-1.4"))
    bundle = searchset(
        [document], base_url=f"{BASE}/fhir", total=7, self_url="s", next_url="n", timestamp=NOW
    )
    validate_fhir(bundle)
    assert bundle["entry"][0]["fullUrl"] == f"{BASE}/fhir/DocumentReference/abc"
    validate_fhir(searchset([], base_url=BASE, total=0, self_url="s"))
    validate_fhir(error_outcome(404, "gone", ["x"]))
    validate_fhir(
        capability_statement(
            base_url=f"{BASE}/fhir", software_version="1", date=NOW, token_url=f"{BASE}/auth/token"
        )
    )
