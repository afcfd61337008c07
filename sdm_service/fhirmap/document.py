"""DocumentReference + Binary: the PDF summary of a completed response, as FHIR documents."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sdm_service.fhirmap.common import fhir_instant, identifier_reference, meta

PDF = "application/pdf"
SUMMARY_TYPE_TEXT = "Shared decision-making summary: discussion points for the care-team visit"


def document_reference(
    *,
    response_id: str,
    base_url: str,
    patient_system: str,
    patient_value: str,
    patient_name: str,
    completed_at: datetime,
    updated_at: datetime,
    title: str,
    filename: str,
    size: int,
    sha1_base64: str,
    language: str = "en",
) -> dict[str, Any]:
    """base_url is the FHIR base (…/fhir). The document and its Binary share the response's id.

    `size` and `sha1_base64` describe the stored PDF the Binary serves: R4 Attachment.size is its
    length in bytes and Attachment.hash the base64 of its SHA-1 digest."""
    subject = identifier_reference(patient_system, patient_value, patient_name)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": response_id,
        "meta": meta(updated_at),
        "status": "current",
        "docStatus": "final",
        "language": language,
        "type": {"text": SUMMARY_TYPE_TEXT},
        "date": fhir_instant(completed_at),
        "description": title,
        "content": [
            {
                "attachment": {
                    "contentType": PDF,
                    "language": language,
                    "url": f"{base_url}/Binary/{response_id}",
                    "size": size,
                    "hash": sha1_base64,
                    "title": filename,
                    "creation": fhir_instant(completed_at),
                }
            }
        ],
        "context": {"related": [{"reference": f"QuestionnaireResponse/{response_id}"}]},
    }
    if subject is not None:
        resource["subject"] = subject
    return resource


def binary(response_id: str, pdf: bytes) -> dict[str, Any]:
    return {
        "resourceType": "Binary",
        "id": response_id,
        "contentType": PDF,
        # Who may read the PDF is decided by the response it summarises.
        "securityContext": {"reference": f"QuestionnaireResponse/{response_id}"},
        "data": base64.b64encode(pdf).decode("ascii"),
    }
