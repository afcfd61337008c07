"""The CapabilityStatement: exactly what this FHIR endpoint supports, and nothing more."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sdm_service.fhirmap.common import FHIR_JSON, FHIR_VERSION, fhir_instant

_SUBJECT_DOC = (
    "Only the chained form subject:identifier=system|value (or just value) is supported; "
    "Patient resources live in the EHR."
)
_LAST_UPDATED_DOC = "Prefixes ge, gt, le, lt (or none for the same instant); repeat to give a range."
_COUNT_DOC = "Page size, 1 to 100 (default 20). Follow the Bundle's next link for more."

# (name, type, documentation), by resource type; the FHIR router reads these for strict checks.
SEARCH_PARAMETERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "Questionnaire": (
        ("url", "uri", "The questionnaire's canonical URL (exact match)."),
        ("version", "token", "The questionnaire's business version (exact match)."),
        ("_id", "token", "The questionnaire id (the slug; see Questionnaire search)."),
    ),
    "QuestionnaireResponse": (
        ("subject", "reference", _SUBJECT_DOC),
        ("status", "token", "in-progress or completed (comma-separated for either)."),
        ("_lastUpdated", "date", _LAST_UPDATED_DOC),
        ("_id", "token", "The response id."),
        ("_count", "number", _COUNT_DOC),
    ),
    "DocumentReference": (
        ("subject", "reference", _SUBJECT_DOC),
        ("_lastUpdated", "date", _LAST_UPDATED_DOC),
        ("_id", "token", "The document id (the same as its response's id)."),
        ("_count", "number", _COUNT_DOC),
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
    "AuditEvent": ("read", "search-type"),
}

_DOCUMENTATION: dict[str, str] = {
    "Questionnaire": "The IORT shared decision-making questionnaire (its id is its slug). No token needed.",
    "QuestionnaireResponse": (
        "Read and search need scope responses:read; create (a response captured elsewhere, "
        "validated against the Questionnaire) needs responses:write."
    ),
    "DocumentReference": "The PDF summary of each completed response. Needs scope responses:read.",
    "Binary": (
        "The PDF itself: Accept application/pdf for the raw file, otherwise a Binary resource "
        "with base64 data. Needs scope responses:read."
    ),
    "AuditEvent": (
        "The audit log, shaped after IHE Basic Audit Log Patterns, newest first. Search needs scope "
        "system/AuditEvent.s, read system/AuditEvent.r."
    ),
}


def capability_statement(*, base_url: str, software_version: str, date: datetime) -> dict[str, Any]:
    """base_url is the FHIR base (…/fhir)."""
    resources = []
    for resource_type, interactions in _INTERACTIONS.items():
        entry: dict[str, Any] = {
            "type": resource_type,
            "documentation": _DOCUMENTATION[resource_type],
            "interaction": [{"code": code} for code in interactions],
        }
        if resource_type in SEARCH_PARAMETERS:
            entry["searchParam"] = [
                {"name": name, "type": kind, "documentation": doc}
                for name, kind, doc in SEARCH_PARAMETERS[resource_type]
            ]
        if resource_type in ("QuestionnaireResponse", "DocumentReference"):
            entry["readHistory"] = False
            entry["updateCreate"] = False
        if resource_type == "QuestionnaireResponse":
            entry["conditionalCreate"] = False
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
                    "Send 'Authorization: Bearer <token>' (tokens come from 'sdm api-clients create'). "
                    "Unknown search parameters are refused with 400 (strict handling). "
                    "Subjects are referenced by identifier only."
                ),
                "security": {
                    "cors": False,
                    "description": "OAuth-style bearer tokens with scopes invitations:write, "
                    "responses:read, responses:write, system/AuditEvent.s, system/AuditEvent.r.",
                },
                "resource": resources,
            }
        ],
    }
