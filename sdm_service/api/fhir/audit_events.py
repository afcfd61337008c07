"""FHIR AuditEvent: the audit log for the hospital's SIEM (search and read), shaped after IHE BALP
by fhirmap.audit_event. Needs the SMART v2 scopes system/AuditEvent.s (search) or .r (read).
Reading the log shows who looked at which patient, so each search and read is itself audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Response as HttpResponse
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from sdm_service.api.fhir import openapi, params
from sdm_service.api.fhir.common import FhirCall, check_request, fhir_base, page_url, read_options
from sdm_service.api.fhir.errors import FhirError, FhirPayload, fhir_response
from sdm_service.api.schemas import text_pattern
from sdm_service.fhirmap.audit_event import audit_event
from sdm_service.fhirmap.bundle import searchset
from sdm_service.services import audit_fhir
from sdm_service.services.search import MAX_PAGE_SIZE, SearchError, parse_identifier

DATE = openapi.date_search_parameter("date", "When the event was recorded")
PATIENT = openapi.patient_identifier_parameter(
    "patient:identifier", "Events about this patient: identifier as system|value (or value for any system)."
)
AGENT = QueryParameter(
    name="agent",
    max_length=200,
    schema_extra={"pattern": text_pattern(200, required=False)},
    description="Who acted: a username, client name or id.",
)
# The audit log pages by event id (newest first): the cursor is the id to continue below. 18 digits
# at most, so any cursor the schema allows fits the database's 64-bit integer.
MAX_CURSOR_DIGITS = 18
CURSOR = QueryParameter(
    name="_cursor",
    schema_extra={"pattern": f"^[0-9]{{1,{MAX_CURSOR_DIGITS}}}$"},
    description="Paging cursor from a next link.",
)
AUDIT_SEARCH = "system/AuditEvent.s"
AUDIT_READ = "system/AuditEvent.r"
SEARCH_PARAMETERS = frozenset({"date", "patient:identifier", "agent", "_count", params.PAGING_PARAMETER})


def _bounds(values: list[str]) -> tuple[tuple[str, datetime], ...]:
    try:
        return params.updated_bounds(values)
    except FhirError as exc:
        raise FhirError(400, str(exc.detail).replace("_lastUpdated", "date"), ("date",)) from None


def _cursor(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_CURSOR_DIGITS:
        raise FhirError(
            400, "The _cursor is not one this server gave; follow the Bundle's next link.", ("_cursor",)
        )
    return int(text)


@get(
    "/AuditEvent",
    summary="Search AuditEvent (the audit log)",
    description="Newest first. Filter by date, patient:identifier and agent; page with _count and the "
    "Bundle's next link. Needs system/AuditEvent.s.",
    **read_options(AUDIT_SEARCH),
)
async def search_audit_events(
    call: NamedDependency[FhirCall],
    date: Annotated[list[str] | None, DATE] = None,
    patient: Annotated[str | None, PATIENT] = None,
    agent: Annotated[str | None, AGENT] = None,
    count: Annotated[int | None, openapi.COUNT] = None,
    cursor: Annotated[str | None, CURSOR] = None,
) -> HttpResponse[FhirPayload]:
    request, settings = call.request, call.settings
    check_request(request, SEARCH_PARAMETERS)
    try:
        system, value = parse_identifier(patient) if patient is not None else (None, None)
    except SearchError as exc:
        raise FhirError(400, str(exc), ("patient:identifier",)) from None
    agent = (agent or "").strip() or None  # outer spaces are not part of a name (the schema's pattern)
    if agent is not None and any(ord(ch) < 32 for ch in agent):  # PostgreSQL refuses NUL outright
        raise FhirError(400, "The agent contains control characters; use printable text only.", ("agent",))
    page_size = params.DEFAULT_COUNT if count is None else count
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise FhirError(400, f"_count must be between 0 and {MAX_PAGE_SIZE}.", ("_count",))
    where = audit_fhir.AuditEventFilter(
        bounds=_bounds(date or []),
        patient_system=system,
        patient_value=value,
        agent=(agent or "").strip(),
        before_id=_cursor(cursor),
    )
    page = await audit_fhir.search_audit_events(call.db_session, where, count=page_size)
    observer = fhir_base(settings)
    resources = [audit_event(row, patient=who, observer=observer) for row, who in page.events]
    await call.audit("", action="api.audit.search", detail={"returned": len(resources)})
    next_cursor = str(page.next_before_id) if page.next_before_id is not None else None
    bundle = searchset(
        resources,
        base_url=observer,
        total=None,
        self_url=page_url(settings, request, cursor),
        next_url=page_url(settings, request, next_cursor) if next_cursor else None,
        timestamp=datetime.now(UTC),
    )
    return fhir_response(bundle)


@get("/AuditEvent/{resource_id:str}", summary="Read AuditEvent", **read_options(AUDIT_READ))
async def read_audit_event(
    call: NamedDependency[FhirCall], resource_id: FromPath[str]
) -> HttpResponse[FhirPayload]:
    check_request(call.request)
    if not resource_id.isdigit() or len(resource_id) > 19:
        raise FhirError(404, f"AuditEvent/{resource_id} does not exist.")
    where = audit_fhir.AuditEventFilter(ids=(int(resource_id),))
    page = await audit_fhir.search_audit_events(call.db_session, where, count=1)
    if not page.events:
        raise FhirError(404, f"AuditEvent/{resource_id} does not exist.")
    row, who = page.events[0]
    await call.audit("", action="api.audit.read", detail={"audit_event": resource_id})
    return fhir_response(audit_event(row, patient=who, observer=fhir_base(call.settings)))


routes = [search_audit_events, read_audit_event]
