"""The CapabilityStatement: exactly what this FHIR endpoint supports, and nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sdm_service.fhirmap.common import FHIR_JSON, FHIR_VERSION, fhir_instant
from sdm_service.fhirmap.task import SDC_TASK_PROFILE
from sdm_service.smart.discovery import capability_security

_SUBJECT_DOC = (
    "Only the chained form subject:identifier=system|value (or just value) is supported; "
    "Patient resources live in the EHR."
)
_LAST_UPDATED_DOC = "Prefixes ge, gt, le, lt (or none for the same instant); repeat to give a range."
_COUNT_DOC = "Page size, 1 to 100 (default 20). Follow the Bundle's next link for more."

_Parameter = tuple[str, str, str]  # (name, type, documentation)


def _patient_data_search(id_doc: str, status_doc: str = "") -> tuple[_Parameter, ...]:
    """What every search of patient data takes (the `search` dependency of api/fhir/common.py),
    with a status for the resources that have one."""
    return (
        ("subject", "reference", _SUBJECT_DOC),
        *((("status", "token", status_doc),) if status_doc else ()),
        ("_lastUpdated", "date", _LAST_UPDATED_DOC),
        ("_id", "token", id_doc),
        ("_count", "number", _COUNT_DOC),
    )


# By resource type; the FHIR router reads these for strict checks.
SEARCH_PARAMETERS: dict[str, tuple[_Parameter, ...]] = {
    "Questionnaire": (
        ("url", "uri", "The questionnaire's canonical URL (exact match)."),
        ("version", "token", "The questionnaire's business version (exact match)."),
        ("_id", "token", "The questionnaire id (the slug; see Questionnaire search)."),
    ),
    "QuestionnaireResponse": _patient_data_search(
        "The response id.", "in-progress or completed (comma-separated for either)."
    ),
    "DocumentReference": _patient_data_search("The document id (the same as its response's id)."),
    "Task": _patient_data_search(
        "The Task id.", "requested, in-progress, completed or cancelled (comma-separated for several)."
    ),
    "AuditEvent": (
        ("date", "date", "When the event was recorded. " + _LAST_UPDATED_DOC),
        ("patient", "reference", "Only patient:identifier=system|value (or just value) is supported."),
        ("agent", "reference", "Who acted: a username, an API client's name, or their id."),
        ("_count", "number", _COUNT_DOC),
    ),
}

_INTERACTIONS: dict[str, tuple[str, ...]] = {
    "Questionnaire": ("read", "search-type"),
    "QuestionnaireResponse": ("read", "search-type", "create"),
    "DocumentReference": ("read", "search-type"),
    "Binary": ("read",),
    "Task": ("read", "search-type", "create", "patch"),
    "AuditEvent": ("read", "search-type"),
}

_DOCUMENTATION: dict[str, str] = {
    "Questionnaire": "The IORT shared decision-making questionnaire (its id is its slug). No token needed.",
    "QuestionnaireResponse": (
        "Read needs system/QuestionnaireResponse.r, search system/QuestionnaireResponse.s; create (a "
        "response captured elsewhere, validated against the Questionnaire) system/QuestionnaireResponse.c."
    ),
    "DocumentReference": (
        "The PDF summary of each completed response. Read needs system/DocumentReference.r, "
        "search system/DocumentReference.s."
    ),
    "Binary": (
        "The PDF itself: Accept application/pdf for the raw file, otherwise a Binary resource "
        "with base64 data. Needs system/Binary.r."
    ),
    "Task": (
        "SDC complete-questionnaire (profile sdc-task). Create (system/Task.c): code "
        "complete-questionnaire, input questionnaire (the Questionnaire canonical), for = the Patient by "
        "identifier, optional restriction.period.end (the link's expiry, at most 365 days) and owner; the "
        "201 answer alone carries the link to send the patient, as an input of type patient-link "
        "(code system {base}/CodeSystem/sdm-task) with valueUrl. Status follows the response: requested, "
        "in-progress at the patient's first save, completed with outputs questionnaire-response "
        "(QuestionnaireResponse) and summary-document (DocumentReference of the PDF). Patch "
        "(system/Task.u): a JSON Patch replacing /status with cancelled ends the patient's link; no other "
        "change is accepted. Read needs system/Task.r, search system/Task.s."
    ),
    "AuditEvent": (
        "The audit log, shaped after IHE Basic Audit Log Patterns, newest first. Search needs scope "
        "system/AuditEvent.s, read system/AuditEvent.r."
    ),
}


def capability_statement(
    *, base_url: str, software_version: str, date: datetime, token_url: str
) -> dict[str, Any]:
    """base_url is the FHIR base (…/fhir); token_url the SMART token endpoint."""
    resources = []
    for resource_type, interactions in _INTERACTIONS.items():
        entry: dict[str, Any] = {
            "type": resource_type,
            "documentation": _DOCUMENTATION[resource_type].replace("{base}", base_url),
            "interaction": [{"code": code} for code in interactions],
        }
        if resource_type in SEARCH_PARAMETERS:
            entry["searchParam"] = [
                {"name": name, "type": kind, "documentation": doc}
                for name, kind, doc in SEARCH_PARAMETERS[resource_type]
            ]
        if resource_type in ("QuestionnaireResponse", "DocumentReference", "Task"):
            entry["readHistory"] = False
            entry["updateCreate"] = False
        if resource_type in ("QuestionnaireResponse", "Task"):
            entry["conditionalCreate"] = False
        if resource_type == "Task":
            entry["supportedProfile"] = [SDC_TASK_PROFILE]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "id": "sdm-service",
        "status": "active",
        "date": fhir_instant(date),
        "publisher": "sdm-service",
        "kind": "instance",
        "software": {"name": "sdm-service", "version": software_version},
        "implementation": {
            "description": "IORT shared decision-making questionnaire service",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": [FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Send 'Authorization: Bearer <token>' (an access token from the SMART token endpoint, "
                    "see security). "
                    "Unknown search parameters are refused with 400 (strict handling). "
                    "Subjects are referenced by identifier only."
                ),
                "security": capability_security(token_url),
                "resource": resources,
            }
        ],
    }
