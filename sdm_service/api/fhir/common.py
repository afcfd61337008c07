"""What the FHIR handlers share: the checks every request meets, audited reads and searchset pages."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request
from litestar import Response as HttpResponse
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.api.auth import audit_read, scopes
from sdm_service.api.fhir import openapi, params
from sdm_service.api.fhir.errors import FHIR_PREFIX, FhirError, FhirPayload, fhir_response
from sdm_service.calls import RequestCall
from sdm_service.fhirmap.bundle import searchset
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.models import ApiClient, PatientResponse
from sdm_service.services import documents
from sdm_service.services.documents import SummaryPdf
from sdm_service.services.search import get_response, search_responses
from sdm_service.settings import Settings


@dataclass(frozen=True)
class FhirCall(RequestCall):
    """What every FHIR interaction that needs a token works with (dependency `call`)."""

    api_client: NamedDependency[ApiClient]
    autocommit_engine: NamedDependency[AsyncEngine]

    async def audit(self, entity_id: str, **options: Any) -> None:
        await audit_read(self.db_session, self.api_client, self.request, entity_id=entity_id, **options)

    async def audit_now(self, entity_id: str, **options: Any) -> None:
        """One read, committed before the answer is sent."""
        await self.audit(entity_id, autocommit_engine=self.autocommit_engine, **options)


def _provide_search(
    subject: Annotated[str | None, openapi.SUBJECT] = None,
    last_updated: Annotated[list[str] | None, openapi.LAST_UPDATED] = None,
    ids: Annotated[str | None, openapi.ID] = None,
    count: Annotated[int | None, openapi.COUNT] = None,
    cursor: Annotated[str | None, openapi.CURSOR] = None,
) -> params.SearchRequest:
    """The search parameters every resource search takes (QuestionnaireResponse adds status)."""
    return params.SearchRequest(subject, None, last_updated, ids, count, cursor)


def read_options(scope: str) -> dict[str, Any]:
    """Route options of a read or search of patient data needing `scope` (``system/Binary.r``)."""
    return {"opt": scopes(scope), "media_type": FHIR_JSON, "responses": openapi.READ_RESPONSES}


CALL_DEPENDENCY = {"call": Provide(FhirCall, sync_to_thread=False)}
SEARCH_DEPENDENCY = {"search": Provide(_provide_search, sync_to_thread=False)}


def fhir_base(settings: Settings) -> str:
    return f"{settings.base_url}{FHIR_PREFIX}"


def check_request(request: Request[Any, Any, Any], allowed: frozenset[str] = frozenset()) -> None:
    params.check_format(request.query_params.get("_format"), request.headers.get("accept", ""))
    params.check_parameters(request.query_params.multi_items(), allowed)


def page_url(settings: Settings, request: Request[Any, Any, Any], cursor: str | None) -> str:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != params.PAGING_PARAMETER]
    if cursor:
        pairs.append((params.PAGING_PARAMETER, cursor))
    query = urlencode(pairs, safe=":|,")
    return f"{settings.base_url}{request.url.path}" + (f"?{query}" if query else "")


async def audited_read(call: FhirCall, resource_type: str, resource_id: str, *, via: str) -> PatientResponse:
    """The response behind one resource read, with the read on the audit record. Every resource but
    QuestionnaireResponse is the summary of a completed response, so needs the summary."""
    check_request(call.request)
    row = await _response_behind(call, resource_type, resource_id)
    await _record_read(call, row.id, via)
    return row


async def audited_document(call: FhirCall, resource_id: str, *, via: str) -> tuple[uuid.UUID, SummaryPdf]:
    """The stored PDF behind Binary/{resource_id} (and its response's id), with the read on the
    audit record: served as stored, the response row loaded only when nothing is stored (to answer
    404, or to store its document first)."""
    check_request(call.request)
    response_id = params.resource_id("Binary", resource_id)
    pdf = await documents.document_of_record(
        call.db_session, response_id, partial(_response_behind, call, "Binary", resource_id)
    )
    await _record_read(call, response_id, via)
    return response_id, pdf


async def _response_behind(call: FhirCall, resource_type: str, resource_id: str) -> PatientResponse:
    """The response `resource_type/resource_id` reads, or 404 (also before it has the summary that
    every resource but QuestionnaireResponse needs)."""
    needs_summary = resource_type != "QuestionnaireResponse"
    row = await get_response(
        call.db_session, params.resource_id(resource_type, resource_id), with_summary=needs_summary
    )
    if row is None or (needs_summary and not row.summary):
        detail = f"{resource_type}/{resource_id} does not exist."
        if row is not None:
            detail += " The summary exists once the response is completed."
        raise FhirError(404, detail)
    return row


async def _record_read(call: FhirCall, response_id: uuid.UUID, via: str) -> None:
    # Committed now rather than after the response is sent: the write lock (SQLite's one writer)
    # is then not held while the resource is mapped, serialised and sent.
    await call.audit_now(str(response_id), detail={"via": via})


async def searchset_response(
    call: FhirCall,
    search: params.SearchRequest,
    resource_type: str,
    to_resources: Callable[[list[PatientResponse]], Awaitable[list[FhirPayload]]],
    *,
    via: str,
) -> HttpResponse[FhirPayload]:
    """One page of responses as a searchset Bundle of `resource_type`, each row's read audited (a
    page without rows, as with _count=0, audits the search itself, with its total)."""
    request, settings = call.request, call.settings
    check_request(request, params.search_parameters(resource_type))
    parsed = params.parse_search(search, resource_type)
    page = await search_responses(
        call.db_session, parsed.where, limit=max(parsed.count, 1), after=parsed.after, with_total=True
    )
    rows = page.rows if parsed.count > 0 else []
    next_cursor = page.next_cursor if parsed.count > 0 else None
    resources = await to_resources(rows)
    for row in rows:
        await call.audit(str(row.id), detail={"via": via})
    if not rows:
        # No row was read, but the total still tells the client something about patients (how
        # many responses a subject has, or that there are none): one event for the search itself.
        detail = {"via": via, "search": search.audit_detail(parsed.count), "total": page.total or 0}
        await call.audit("", action="api.response.search", detail=detail)
    bundle = searchset(
        resources,
        base_url=fhir_base(settings),
        total=page.total or 0,
        self_url=page_url(settings, request, search.cursor),
        next_url=page_url(settings, request, next_cursor) if next_cursor else None,
        timestamp=datetime.now(UTC),
    )
    return fhir_response(bundle)
