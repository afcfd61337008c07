"""FHIR R4 endpoints under /fhir: metadata, Questionnaire, QuestionnaireResponse (read, search,
create), DocumentReference and Binary (the stored PDF summary), Task (SDC complete-questionnaire:
create, read, search, cancel by patch), AuditEvent (the audit log).

Conventions: bodies are application/fhir+json (application/json and `_format=json` accepted);
every error is an OperationOutcome with the right status (errors.py); unknown search parameters are
refused (strict handling, params.py); patients are referenced by identifier (Patient resources are
the EHR's). Bodies meet the JSON body limit of the settings, like every other route.
"""

from __future__ import annotations

from typing import Any

from litestar import Router

from sdm_service.api import smart
from sdm_service.api.auth import API_CLIENT_DEPENDENCY, SECURITY, require_api_client
from sdm_service.api.fhir import audit_events, documents, openapi, questionnaires, responses, tasks
from sdm_service.api.fhir.common import CALL_DEPENDENCY
from sdm_service.api.fhir.errors import FHIR_EXCEPTION_HANDLERS, FHIR_PREFIX, is_fhir_path, with_fhir_outcomes

__all__ = ["FHIR_PREFIX", "is_fhir_path", "routes", "with_fhir_outcomes"]

routes: list[Any] = [
    Router(
        FHIR_PREFIX,
        route_handlers=[
            smart.discovery,
            *questionnaires.routes,
            *responses.routes,
            *documents.routes,
            *tasks.routes,
            *audit_events.routes,
        ],
        guards=[require_api_client],
        dependencies={**API_CLIENT_DEPENDENCY, **CALL_DEPENDENCY},
        # Every interaction accepts _format; the handlers check it against the raw query string.
        parameters={"format_": openapi.FORMAT},
        tags=openapi.FHIR_TAGS,
        security=SECURITY,
        exception_handlers=FHIR_EXCEPTION_HANDLERS,
    )
]
