"""How the FHIR routes are documented in the OpenAPI schema: parameters, the create body, tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import QueryParameter

from sdm_service.api.fhir import params
from sdm_service.api.fhir.errors import FhirPayload
from sdm_service.content import Content
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.fhirmap.questionnaire_response import canonical
from sdm_service.services.intake import ACCEPTED_STATUSES
from sdm_service.services.search import CURSOR_PATTERN, IDENTIFIER_PATTERN

# The create example names this deployment's questionnaire canonical, so it is built by create_app
# (components) and the operation refers to it.
CREATE_EXAMPLE = "QuestionnaireResponseCreate"


def create_example(content: Content, base_url: str) -> Example:
    """A partly answered response to the questionnaire this deployment takes in."""
    questionnaire = canonical(questionnaire_to_fhir(content.questionnaire, base_url))
    value: FhirPayload = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": questionnaire,
        "status": "in-progress",
        "subject": {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-004211"}},
        "authored": "2026-11-21T18:45:03Z",
        "item": [
            {
                "linkId": "step-about",
                "item": [
                    {
                        "linkId": "respondent",
                        "answer": [{"valueCoding": {"code": "patient", "display": "I am the patient"}}],
                    }
                ],
            }
        ],
    }
    return Example(summary="A partly answered response", value=value)


def _text(description: str) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description)


# What the intake reads; every other element is FHIR R4's (its rules answer 400, the Questionnaire's 422).
_CREATE_BODY = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType", "questionnaire", "status", "subject"],
    properties={
        "resourceType": Schema(type=OpenAPIType.STRING, enum=["QuestionnaireResponse"]),
        "questionnaire": _text("The Questionnaire's url|version (GET /fhir/Questionnaire)."),
        "status": Schema(type=OpenAPIType.STRING, enum=list(ACCEPTED_STATUSES)),
        "subject": Schema(
            type=OpenAPIType.OBJECT,
            required=["identifier"],
            properties={
                "identifier": Schema(
                    type=OpenAPIType.OBJECT,
                    required=["value"],
                    properties={"system": _text("The MRN system URI."), "value": _text("The MRN.")},
                )
            },
        ),
        "authored": _text("FHIR dateTime of the answers."),
        "item": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT, description="Answers by linkId, grouped as the Questionnaire."
            ),
        ),
    },
)


@dataclass
class FhirCreateOperation(Operation):
    """Documents the QuestionnaireResponse body (read by hand so errors become OperationOutcomes)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="A FHIR R4 QuestionnaireResponse for questionnaire url|version, with "
            "subject.identifier, status in-progress or completed, and answers by linkId.",
            content={
                media_type: OpenAPIMediaType(
                    schema=_CREATE_BODY,
                    examples={"in-progress": Reference(ref=f"#/components/examples/{CREATE_EXAMPLE}")},
                )
                for media_type in (FHIR_JSON, "application/json")
            },
        )


# Patterns go to the schema only (schema_extra): the parsers refuse with their own, clearer messages.
def patient_identifier_parameter(name: str, description: str) -> QueryParameter:
    """A search by the patient's identifier, system|value (or value for any system)."""
    return QueryParameter(
        name=name, max_length=320, schema_extra={"pattern": IDENTIFIER_PATTERN}, description=description
    )


def date_search_parameter(name: str, description: str) -> QueryParameter:
    """A search by date with a prefix (ge, gt, le or lt), repeated for a range."""
    return QueryParameter(
        name=name,
        schema_extra={"items": Schema(type=OpenAPIType.STRING, pattern=params.DATE_SEARCH_PATTERN)},
        description=f"{description}, with prefix ge, gt, le or lt (e.g. ge2026-11-01). Repeat for a range.",
    )


SUBJECT = patient_identifier_parameter(
    "subject:identifier", "Patient identifier as system|value (or value for any system)."
)
LAST_UPDATED = date_search_parameter("_lastUpdated", "Last change")
# minimum repeated in schema_extra: Litestar 2 leaves a bound of 0 out of the schema.
COUNT = QueryParameter(
    name="_count",
    ge=0,
    le=100,
    schema_extra={"minimum": 0},
    description="Page size (0 gives only the total).",
)
CURSOR = QueryParameter(
    name="_cursor", schema_extra={"pattern": CURSOR_PATTERN}, description="Paging cursor from a next link."
)
# Declared once on the router (a layered parameter carries its own type and default).
FORMAT = QueryParameter(
    name="_format",
    annotation=Literal["json", "application/json", "application/fhir+json", "application/json+fhir"] | None,
    default=None,
    description="json or application/fhir+json (the answer is JSON either way).",
)
ID = QueryParameter(name="_id", max_length=2000, description="Resource id(s), comma-separated.")
URL = QueryParameter(name="url", description="Canonical URL (exact).")
VERSION = QueryParameter(name="version", description="Business version (exact).")
STATUS = QueryParameter(
    name="status",
    schema_extra={"pattern": params.STATUS_PATTERN},
    description="in-progress or completed (comma-separated for either).",
)

FHIR_TAGS = ["FHIR R4"]
# An empty requirement beside the router's bearer one: a token is accepted but not needed.
NO_TOKEN_NEEDED: list[dict[str, list[str]]] = [{}]


def _fhir(description: str) -> ResponseSpec:
    """An answer in application/fhir+json: a resource, a Bundle or an OperationOutcome."""
    return ResponseSpec(
        data_container=dict[str, Any], media_type=FHIR_JSON, description=description, generate_examples=False
    )


# What every FHIR interaction may answer (errors are OperationOutcomes, errors.py).
OUTCOMES: dict[int, ResponseSpec] = {
    400: _fhir("OperationOutcome: a parameter or the body is not valid."),
    401: _fhir("OperationOutcome: no or an unknown bearer token."),
    403: _fhir("OperationOutcome: the token lacks the scope this interaction needs."),
    404: _fhir("OperationOutcome: no resource has this id."),
    406: _fhir("OperationOutcome: the _format or Accept asks for a format this server does not speak."),
    429: _fhir("OperationOutcome: too many requests; see Retry-After."),
}
READ_RESPONSES: dict[int, ResponseSpec] = {200: _fhir("The resource, or a searchset Bundle."), **OUTCOMES}
CREATE_RESPONSES: dict[int, ResponseSpec] = {
    201: _fhir("The stored QuestionnaireResponse; Location names it."),
    **OUTCOMES,
    413: _fhir("OperationOutcome: the body is larger than the JSON body limit."),
    415: _fhir("OperationOutcome: the body is not application/fhir+json or application/json."),
    422: _fhir("OperationOutcome: the resource breaks the Questionnaire's rules; every problem is listed."),
}
