"""FHIR routes that need no token: the CapabilityStatement and the Questionnaire definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, get
from litestar import Response as HttpResponse
from litestar.di import NamedDependency
from litestar.params import FromPath

from sdm_service import __version__
from sdm_service.api.fhir import openapi
from sdm_service.api.fhir.common import check_request, fhir_base, page_url
from sdm_service.api.fhir.errors import FhirError, FhirPayload, fhir_response
from sdm_service.content import ContentLibrary
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.fhirmap.bundle import searchset
from sdm_service.fhirmap.capability import capability_statement
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.settings import Settings

PUBLIC: dict[str, Any] = {
    "opt": {"public": True},
    "security": openapi.NO_TOKEN_NEEDED,
    "media_type": FHIR_JSON,
    "responses": openapi.READ_RESPONSES,
}


@get("/metadata", summary="CapabilityStatement", **PUBLIC)
async def metadata(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
) -> HttpResponse[FhirPayload]:
    check_request(request, frozenset({"mode"}))
    statement = capability_statement(
        base_url=fhir_base(settings),
        software_version=__version__,
        date=datetime(2026, 11, 22, tzinfo=UTC),
        token_url=settings.smart_token_url,
    )
    return fhir_response(statement)


def _matches(resource: FhirPayload, url: str | None, version: str | None, ids: set[str] | None) -> bool:
    if url is not None:
        canonical, bar, pinned = url.partition("|")
        if resource["url"] != canonical or (bar and pinned != resource["version"]):
            return False
    if version is not None and resource["version"] != version:
        return False
    return ids is None or resource["id"] in ids


@get("/Questionnaire", summary="Search Questionnaire", **PUBLIC)
async def search_questionnaires(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
    url: Annotated[str | None, openapi.URL] = None,
    version: Annotated[str | None, openapi.VERSION] = None,
    ids: Annotated[str | None, openapi.ID] = None,
) -> HttpResponse[FhirPayload]:
    check_request(request, frozenset({"url", "version", "_id"}))
    wanted_ids = {part.strip() for part in ids.split(",")} if ids is not None else None
    resources = (
        questionnaire_to_fhir(c.questionnaire, settings.base_url, c.translated_questionnaires())
        for c in library.by_slug.values()
    )
    found = [resource for resource in resources if _matches(resource, url, version, wanted_ids)]
    bundle = searchset(
        found, base_url=fhir_base(settings), total=len(found), self_url=page_url(settings, request, None)
    )
    return fhir_response(bundle)


@get("/Questionnaire/{questionnaire_id:str}", summary="Read Questionnaire", **PUBLIC)
async def read_questionnaire(
    request: Request[Any, Any, Any],
    questionnaire_id: FromPath[str],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
) -> HttpResponse[FhirPayload]:
    check_request(request)
    content = library.by_slug.get(questionnaire_id)
    if content is None:
        known = ", ".join(f"Questionnaire/{slug}" for slug in library.by_slug)
        raise FhirError(404, f"Questionnaire/{questionnaire_id} does not exist. Try {known}.")
    return fhir_response(
        questionnaire_to_fhir(content.questionnaire, settings.base_url, content.translated_questionnaires())
    )


routes = [metadata, search_questionnaires, read_questionnaire]
