"""FHIR QuestionnaireResponse: search, read and create (responses captured elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

from litestar import Response as HttpResponse
from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.api.auth import actor, scopes
from sdm_service.api.fhir import openapi
from sdm_service.api.fhir.bodies import parse_body, require_fhir_body
from sdm_service.api.fhir.common import (
    SEARCH_DEPENDENCY,
    FhirCall,
    audited_read,
    check_request,
    fhir_base,
    read_options,
    searchset_response,
)
from sdm_service.api.fhir.errors import FhirError, FhirPayload, fhir_response
from sdm_service.api.fhir.params import SearchRequest
from sdm_service.audit import record
from sdm_service.content import ContentLibrary
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.schema import Questionnaire
from sdm_service.delivery.dispatch import completion_background
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.middleware import request_ip
from sdm_service.models import PatientResponse
from sdm_service.services.intake import store_questionnaire_response
from sdm_service.services.questionnaires import pinned_questionnaire
from sdm_service.settings import Settings


@dataclass(frozen=True)
class FormDefinition:
    questionnaire: Questionnaire
    fhir: FhirPayload


async def _form_for(
    db_session: AsyncSession, library: ContentLibrary, settings: Settings, slug: str, version: str
) -> FormDefinition:
    """The questionnaire a response is pinned to (an in-progress one on an older version is laid
    out on the current form, under its own version)."""
    questionnaire = await pinned_questionnaire(db_session, library, slug, version, current_if_unknown=True)
    if questionnaire is None:
        raise FhirError(500, f"The questionnaire {slug} {version} of this response is not available.")
    fhir = questionnaire_to_fhir(questionnaire, settings.base_url)
    return FormDefinition(questionnaire, {**fhir, "version": version})


async def questionnaire_responses(
    rows: list[PatientResponse], db_session: AsyncSession, library: ContentLibrary, settings: Settings
) -> list[FhirPayload]:
    """The rows as QuestionnaireResponse resources, each questionnaire mapped once per call."""
    forms: dict[tuple[str, str], FormDefinition] = {}
    resources = []
    for row in rows:
        key = (row.questionnaire_slug, row.questionnaire_version)
        if key not in forms:
            forms[key] = await _form_for(db_session, library, settings, *key)
        resources.append(
            to_questionnaire_response(ResponseRecord.of(row), forms[key].questionnaire, forms[key].fhir)
        )
    return resources


@get(
    "/QuestionnaireResponse",
    **read_options("system/QuestionnaireResponse.s"),
    dependencies=SEARCH_DEPENDENCY,
    summary="Search QuestionnaireResponse",
    description="searchset Bundle ordered by last change, with total and a next link. "
    "Needs system/QuestionnaireResponse.s.",
)
async def search_questionnaire_responses(
    call: NamedDependency[FhirCall],
    search: NamedDependency[SearchRequest],
    library: NamedDependency[ContentLibrary],
    status: Annotated[str | None, openapi.STATUS] = None,
) -> HttpResponse[FhirPayload]:
    async def to_resources(rows: list[PatientResponse]) -> list[FhirPayload]:
        return await questionnaire_responses(rows, call.db_session, library, call.settings)

    search = replace(search, status=status)
    return await searchset_response(call, search, "QuestionnaireResponse", to_resources, via="fhir-search")


@get(
    "/QuestionnaireResponse/{resource_id:str}",
    summary="Read QuestionnaireResponse",
    description="Needs system/QuestionnaireResponse.r.",
    **read_options("system/QuestionnaireResponse.r"),
)
async def read_questionnaire_response(
    call: NamedDependency[FhirCall], resource_id: FromPath[str], library: NamedDependency[ContentLibrary]
) -> HttpResponse[FhirPayload]:
    row = await audited_read(call, "QuestionnaireResponse", resource_id, via="fhir-read")
    [resource] = await questionnaire_responses([row], call.db_session, library, call.settings)
    return fhir_response(resource, headers={"ETag": f'W/"{row.lock_version}"'})


# No body size here: the JSON body limit of the settings (SDM_MAX_JSON_BODY_BYTES) applies to every
# route, before the body is read (see middleware.BodySizeLimitMiddleware).
@post(
    "/QuestionnaireResponse",
    opt=scopes("system/QuestionnaireResponse.c"),
    guards=[require_fhir_body],
    media_type=FHIR_JSON,
    responses=openapi.CREATE_RESPONSES,
    status_code=HTTP_201_CREATED,
    operation_class=openapi.FhirCreateOperation,
    summary="Create a QuestionnaireResponse captured elsewhere",
    description="Validated against the Questionnaire (url|version, linkIds, answer types and codes, "
    "only enabled items, required items when completed). A completed response is summarised like any "
    "other. 201 with Location; 400/422 OperationOutcome listing every problem; 413 for a body over the "
    "configured JSON limit. Needs system/QuestionnaireResponse.c.",
)
async def create_questionnaire_response(
    call: NamedDependency[FhirCall],
    library: NamedDependency[ContentLibrary],
    delivery_queue: NamedDependency[DeliveryQueue | None],
) -> HttpResponse[FhirPayload]:
    request, db_session, settings = call.request, call.db_session, call.settings
    check_request(request)
    resource = parse_body(await request.body())
    row = await store_questionnaire_response(
        db_session, settings, library.get(settings.questionnaire_slug), resource
    )
    await record(
        db_session,
        actor(call.api_client),
        "api.response.create",
        entity_type="response",
        entity_id=str(row.id),
        ip=request_ip(request),
        detail={"via": "fhir", "status": row.status},
    )
    [created] = await questionnaire_responses([row], db_session, library, settings)
    location = f"{fhir_base(settings)}/QuestionnaireResponse/{row.id}"
    answer = fhir_response(created, HTTP_201_CREATED, headers={"Location": location})
    if row.summary:  # completed: its document is stored once this request has committed
        answer.background = completion_background(db_session, delivery_queue, row)
    return answer


routes = [search_questionnaire_responses, read_questionnaire_response, create_questionnaire_response]
