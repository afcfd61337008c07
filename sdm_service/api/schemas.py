"""Request and response models of the JSON API v1 (they are also its OpenAPI documentation)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins.pydantic import PydanticSchemaPlugin
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.models import PatientResponse, ResponseStatus
from sdm_service.settings import DEFAULT_QUESTIONNAIRE_SLUG

if TYPE_CHECKING:
    from litestar._openapi.schema_generation.schema import SchemaCreator
    from litestar.typing import FieldDefinition

StatusName = Literal["invited", "in_progress", "completed", "reviewed"]
assert set(StatusName.__args__) == set(ResponseStatus.ALL)  # type: ignore[attr-defined]

EXAMPLE_RESPONSE_ID = "0d6c1f7e-2b8a-4f43-9a51-6f0f5c1b2e3d"
EXAMPLE_INVITATION_ID = "9b2e4c1a-7d35-4e8f-b6a0-3c5d7e9f1a2b"
EXAMPLE_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def text_pattern(max_length: int, *, required: bool) -> str:
    """The texts a stripped field accepts, as an OpenAPI pattern: no control characters and at most
    max_length characters between the outer spaces (Python's \\s is what str.strip removes)."""
    kept = rf"[^\x00-\x1f]{{0,{max_length - 1}}}[^\s\x00-\x1f]"
    return rf"^\s*{kept}\s*$" if required else rf"^\s*({kept})?\s*$"


def stripped_text(max_length: int, *, required: bool = False) -> Any:
    """A text field stored without its outer spaces, refused with a plain message (the rules of
    services/invitations.py, applied before the body reaches it)."""

    def clean(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the str type refuses it
        text = value.strip()
        if required and not text:
            raise ValueError("must not be empty")
        if len(text) > max_length:
            raise ValueError(f"must be {max_length} characters or fewer")
        if any(ord(ch) < 32 for ch in text):
            raise ValueError("must not contain control characters")
        return text

    pattern = text_pattern(max_length, required=required)
    return Annotated[str, BeforeValidator(clean), Field(json_schema_extra={"pattern": pattern})]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClosedModelsSchemaPlugin(PydanticSchemaPlugin):
    """Litestar's pydantic schema plugin, stating `additionalProperties: false` for the models that
    refuse unknown keys (extra="forbid"), as the request bodies do; and, given the questionnaire's
    languages (content data, known only when create_app loads it), listing them as the only values
    of a body's `language`."""

    def __init__(self, languages: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.languages = languages

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        language = (schema.properties or {}).get("language")
        if self.languages and isinstance(language, Schema):
            for option in [language, *(language.one_of or [])]:
                if isinstance(option, Schema) and option.type == OpenAPIType.STRING:
                    option.enum = list(self.languages)
        return schema

    @classmethod
    def for_pydantic_model(cls, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().for_pydantic_model(field_definition, schema_creator)
        if field_definition.annotation.model_config.get("extra") == "forbid":
            schema.additional_properties = False
        return schema


if TYPE_CHECKING:
    IdentifierValue: TypeAlias = str
    OptionalText: TypeAlias = str
else:
    IdentifierValue = stripped_text(100, required=True)
    OptionalText = stripped_text(200)


class PatientIdentifier(ApiModel):
    system: OptionalText = Field(
        default="",
        description="Namespace of the identifier (the EHR's MRN system URI). May be empty.",
        examples=[EXAMPLE_SYSTEM],
    )
    value: IdentifierValue = Field(
        description="The patient's identifier in that system, e.g. the MRN.", examples=["MRN-004211"]
    )


class InvitationCreate(ApiModel):
    patient: PatientIdentifier
    name: OptionalText = Field(
        default="", description="The patient's name, shown to clinicians and on the summary."
    )
    consult_date: date | None = Field(
        default=None, description="Date of the care-team visit, if known (YYYY-MM-DD)."
    )
    ttl_days: int | None = Field(
        default=None, ge=1, le=365, description="Days the link stays valid (default: the service's setting)."
    )
    language: str | None = Field(
        default=None,
        description="The patient's language (`en`, `es`): the questionnaire, pages, summary and PDF "
        "are in it; the patient can still switch. Default: the questionnaire's first language.",
        examples=["es"],
    )

    @field_validator("consult_date", mode="before")
    @classmethod
    def _date_text_only(cls, value: Any) -> Any:
        """The schema says a date string: a number (read as a timestamp) or anything else is refused."""
        if value is not None and not isinstance(value, str | date):
            raise ValueError("consult_date must be a date written as YYYY-MM-DD")
        return value


class InvitationCreated(ApiModel):
    invitation_id: uuid.UUID
    response_id: uuid.UUID = Field(description="Read it later at /api/v1/responses/{response_id}.")
    url: str = Field(description="The link to send the patient. It is shown only now; store or send it.")
    expires_at: datetime
    task_id: uuid.UUID = Field(
        description="The FHIR Task (SDC complete-questionnaire) that follows this invitation: "
        "/fhir/Task/{task_id}."
    )


class AccessEnded(ApiModel):
    response_id: uuid.UUID
    access_ended_at: datetime = Field(
        description="From this moment the patient's links (invitation, resume link, browser cookie) "
        "open a page telling them to ask the clinic for a new link."
    )


class QuestionnaireRef(ApiModel):
    slug: str = Field(examples=[DEFAULT_QUESTIONNAIRE_SLUG])
    version: str = Field(examples=["2.0.0"])


class PatientOut(ApiModel):
    system: str = Field(examples=[EXAMPLE_SYSTEM])
    value: str = Field(examples=["MRN-004211"])
    name: str = Field(examples=["Maria Lopez"])


class ResponseListItem(ApiModel):
    id: uuid.UUID = Field(examples=[EXAMPLE_RESPONSE_ID])
    status: StatusName
    source: str = Field(description="Where the answers came from: web, api or fhir.", examples=["web"])
    questionnaire: QuestionnaireRef
    patient: PatientOut
    consult_date: date | None = None
    language: str = Field(default="en", description="The patient's language.", examples=["es"])
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    reviewed_at: datetime | None = None
    conflict_score: int | None = Field(
        default=None, description="Decisional-conflict screen score, 0-4 (3 or less is flagged)."
    )
    conflict_flag: bool = Field(description="True when the conflict screen suggests extra support.")
    top_priority: str | None = Field(default=None, examples=["fewer_visits"])
    pdf_url: str | None = Field(default=None, description="Set once the summary exists.")

    @classmethod
    def from_row(cls, response: PatientResponse, base_url: str) -> ResponseListItem:
        return cls(**_common(response, base_url))


class ResponseDetail(ResponseListItem):
    answers: dict[str, Any] = Field(
        description="Answers by item id (FHIR linkId): option codes, lists of codes, ISO dates or text.",
        examples=[{"respondent": "patient", "cancer_type": "breast", "prio_fewer_visits": "extremely"}],
    )
    summary: SummarySnapshot | None = Field(
        default=None,
        description="The summary computed at completion (ranked priorities, conflict screen, "
        "discussion points with evidence and sources). Null until the response is completed.",
    )

    @classmethod
    def from_row(cls, response: PatientResponse, base_url: str) -> ResponseDetail:
        summary = SummarySnapshot.model_validate(response.summary) if response.summary else None
        return cls(**_common(response, base_url), answers=dict(response.answers), summary=summary)


class ResponsePage(ApiModel):
    items: list[ResponseListItem]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next page; null on the last page. Pages are ordered "
        "by updated_at then id, so rows changed while paging show up again at the end.",
    )


class Problem(ApiModel):
    """An error: the HTTP status and what to change."""

    status_code: int
    detail: str
    extra: Any = Field(default=None, description="Per-field problems, when there are any.")


def _common(response: PatientResponse, base_url: str) -> dict[str, Any]:
    has_summary = bool(response.summary)
    return {
        "id": response.id,
        "status": response.status,
        "source": response.source,
        "questionnaire": QuestionnaireRef(
            slug=response.questionnaire_slug, version=response.questionnaire_version
        ),
        "patient": PatientOut(
            system=response.patient_system, value=response.patient_value, name=response.patient_name
        ),
        "consult_date": response.consult_date,
        "language": response.language,
        "created_at": response.created_at,
        "updated_at": response.updated_at,
        "completed_at": response.completed_at,
        "reviewed_at": response.reviewed_at,
        "conflict_score": response.conflict_score,
        "conflict_flag": response.conflict_flag,
        "top_priority": response.top_priority,
        "pdf_url": f"{base_url}/api/v1/responses/{response.id}/summary.pdf" if has_summary else None,
    }


# --- OpenAPI examples (whole documents, shown beside each operation) --------------------------------

EXAMPLE_INVITATION_REQUEST: dict[str, Any] = {
    "patient": {"system": EXAMPLE_SYSTEM, "value": "MRN-004211"},
    "name": "Maria Lopez",
    "consult_date": "2026-12-03",
    "ttl_days": 14,
    "language": "es",
}
EXAMPLE_INVITATION_CREATED: dict[str, Any] = {
    "invitation_id": EXAMPLE_INVITATION_ID,
    "response_id": EXAMPLE_RESPONSE_ID,
    "url": "https://sdm.example.org/i/q3v9Xk2mZ0pLr8TtY1cWbN5dHs7uJf4eA6gKoPi2RxE",
    "expires_at": "2026-12-17T09:30:00Z",
    "task_id": "5d0c2a77-1f4e-4b0a-9a61-2f3c8e1b7d45",
}
EXAMPLE_LIST_ITEM: dict[str, Any] = {
    "id": EXAMPLE_RESPONSE_ID,
    "status": "completed",
    "source": "web",
    "questionnaire": {"slug": DEFAULT_QUESTIONNAIRE_SLUG, "version": "2.0.0"},
    "patient": {"system": EXAMPLE_SYSTEM, "value": "MRN-004211", "name": "Maria Lopez"},
    "consult_date": "2026-12-03",
    "language": "es",
    "created_at": "2026-11-20T14:02:11Z",
    "updated_at": "2026-11-21T18:45:03Z",
    "completed_at": "2026-11-21T18:45:03Z",
    "reviewed_at": None,
    "conflict_score": 2,
    "conflict_flag": True,
    "top_priority": "fewer_visits",
    "pdf_url": f"https://sdm.example.org/api/v1/responses/{EXAMPLE_RESPONSE_ID}/summary.pdf",
}
EXAMPLE_PAGE: dict[str, Any] = {
    "items": [EXAMPLE_LIST_ITEM],
    "next_cursor": "1795286703000000.0d6c1f7e2b8a4f439a516f0f5c1b2e3d",
}


def example_detail() -> dict[str, Any]:
    """A full response with its summary, from the sample snapshot the PDF examples use."""
    from sdm_service.report.sample import example_snapshot

    snapshot = example_snapshot(response_id=EXAMPLE_RESPONSE_ID)
    return {
        **EXAMPLE_LIST_ITEM,
        "answers": {"respondent": "patient", "cancer_type": "breast", "prio_fewer_visits": "extremely"},
        "summary": snapshot.model_dump(mode="json"),
    }


EXAMPLE_PROBLEMS: dict[int, dict[str, Any]] = {
    400: {
        "status_code": 400,
        "detail": "Validation failed for POST /api/v1/invitations",
        "extra": [{"message": "String should have at least 1 character", "key": "patient.value"}],
    },
    401: {"status_code": 401, "detail": "The token is not valid, has expired or was revoked."},
    403: {
        "status_code": 403,
        "detail": "This token lacks the scope system/QuestionnaireResponse.s needed here "
        "(older static tokens: responses:read).",
    },
    404: {"status_code": 404, "detail": f"No response has the id {EXAMPLE_RESPONSE_ID}."},
    409: {
        "status_code": 409,
        "detail": f"Response {EXAMPLE_RESPONSE_ID} is in_progress; the PDF exists once it is completed.",
    },
    413: {
        "status_code": 413,
        "detail": "The request body is too large: the limit is 1024 KiB. Send less at once.",
    },
}
