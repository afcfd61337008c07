"""What the FHIR handlers share: the checks every request meets, audited reads and searchset pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar import Response as HttpResponse
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.api.auth import audit_read
from sdm_service.api.fhir import params
from sdm_service.api.fhir.errors import FHIR_PREFIX, FhirError, FhirPayload, fhir_response
from sdm_service.fhirmap.bundle import searchset
from sdm_service.models import ApiClient, Response
from sdm_service.services.search import get_response, search_responses
from sdm_service.settings import Settings


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


async def audited_read(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    api_client: ApiClient,
    resource_type: str,
    resource_id: str,
    *,
    via: str,
    needs_summary: bool = False,
) -> Response:
    """The response behind one resource read, with the read on the audit record."""
    check_request(request)
    row = await get_response(
        db_session, params.resource_id(resource_type, resource_id), with_summary=needs_summary
    )
    if row is None or (needs_summary and not row.summary):
        detail = f"{resource_type}/{resource_id} does not exist."
        if row is not None:
            detail += " The summary exists once the response is completed."
        raise FhirError(404, detail)
    await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": via})
    return row


async def searchset_response(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    api_client: ApiClient,
    settings: Settings,
    search: params.SearchRequest,
    *,
    resource_type: str,
    to_resources: Callable[[list[Response]], Awaitable[list[FhirPayload]]],
    via: str,
) -> HttpResponse[FhirPayload]:
    """One page of responses as a searchset Bundle of `resource_type`, each row's read audited (a
    page without rows, as with _count=0, audits the search itself, with its total)."""
    check_request(request, params.search_parameters(resource_type))
    parsed = params.parse_search(search, resource_type)
    page = await search_responses(
        db_session, parsed.where, limit=max(parsed.count, 1), after=parsed.after, with_total=True
    )
    rows = page.rows if parsed.count > 0 else []
    next_cursor = page.next_cursor if parsed.count > 0 else None
    resources = await to_resources(rows)
    for row in rows:
        await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": via})
    if not rows:
        # No row was read, but the total still tells the client something about patients (how
        # many responses a subject has, or that there are none): one event for the search itself.
        await audit_read(
            db_session,
            api_client,
            request,
            entity_id="",
            action="api.response.search",
            detail={"via": via, "search": search.audit_detail(parsed.count), "total": page.total or 0},
        )
    bundle = searchset(
        resources,
        base_url=fhir_base(settings),
        total=page.total or 0,
        self_url=page_url(settings, request, search.cursor),
        next_url=page_url(settings, request, next_cursor) if next_cursor else None,
        timestamp=datetime.now(UTC),
    )
    return fhir_response(bundle)
