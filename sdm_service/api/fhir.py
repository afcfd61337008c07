"""FHIR R4 endpoints under /fhir: metadata, Questionnaire, QuestionnaireResponse (read, search,
create), DocumentReference and Binary (the PDF summary).

Conventions: bodies are application/fhir+json (application/json and `_format=json` accepted);
every error is an OperationOutcome with the right status; unknown search parameters are refused
(strict handling); patients are referenced by identifier (Patient resources are the EHR's).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Router, get, post
from litestar import Response as HttpResponse
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from sdm_service import __version__
from sdm_service.api.auth import (
    API_CLIENT_DEPENDENCY,
    RESPONSES_READ,
    RESPONSES_WRITE,
    SECURITY,
    actor,
    audit_read,
    require_api_client,
    scopes,
)
from sdm_service.api.search import (
    MAX_PAGE_SIZE,
    Cursor,
    ResponseFilter,
    SearchError,
    decode_cursor,
    parse_identifier,
    search_responses,
)
from sdm_service.audit import record
from sdm_service.content import ContentLibrary
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.schema import Questionnaire
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.errors import exception_handlers
from sdm_service.fhirmap.bundle import searchset
from sdm_service.fhirmap.capability import SEARCH_PARAMETERS, capability_statement
from sdm_service.fhirmap.common import FHIR_JSON, FHIR_STATUS_TO_OURS
from sdm_service.fhirmap.document import PDF, binary, document_reference
from sdm_service.fhirmap.outcome import Issue, error_outcome, issue_code, operation_outcome
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.logging_filters import mask_path
from sdm_service.middleware import request_ip
from sdm_service.models import ApiClient, PatientResponse
from sdm_service.report.pdf import pdf_filename, render_summary_pdf_async
from sdm_service.services.intake import IntakeMalformed, IntakeRejected, store_questionnaire_response
from sdm_service.services.questionnaires import pinned_questionnaire
from sdm_service.settings import Settings
from sdm_service.web.downloads import summary_pdf_download

logger = logging.getLogger("sdm_service.fhir")

FHIR_PREFIX = "/fhir"
MAX_BODY_BYTES = 256 * 1024  # a full response to this questionnaire is a few tens of KiB
DEFAULT_COUNT = 20
JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
ACCEPTED_BODY_TYPES = frozenset({"application/fhir+json", "application/json", "application/json+fhir"})
# Parameters every interaction accepts besides its own search parameters.
COMMON_PARAMETERS = frozenset({"_format"})
PAGING_PARAMETER = "_cursor"

FhirPayload = dict[str, Any]


# --- errors as OperationOutcome --------------------------------------------------------------------


class FhirError(HTTPException):
    """An error with an OperationOutcome body; `expression` points at the offending element."""

    def __init__(self, status_code: int, diagnostics: str, expression: tuple[str, ...] = ()) -> None:
        super().__init__(status_code=status_code, detail=diagnostics)
        self.expression = expression


def fhir_response(
    body: FhirPayload, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> HttpResponse[FhirPayload]:
    return HttpResponse(
        body,
        status_code=status_code,
        media_type=FHIR_JSON,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


# Handler argument names -> the FHIR parameter names clients send (for validation messages).
_PARAMETER_NAMES = {
    "subject": "subject:identifier",
    "last_updated": "_lastUpdated",
    "ids": "_id",
    "count": "_count",
    "cursor": "_cursor",
    "format_": "_format",
}


def _issues_for(exc: HTTPException) -> list[Issue]:
    code = issue_code(exc.status_code)
    if isinstance(exc, FhirError):
        return [Issue(diagnostics=exc.detail, code=code, expression=exc.expression)]
    extra = exc.extra if isinstance(exc.extra, list) else []
    issues = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = _PARAMETER_NAMES.get(str(item.get("key", "")), str(item.get("key", "")))
        issues.append(
            Issue(
                diagnostics=f"{key}: {item.get('message', '')}".strip(": "),
                code=code,
                expression=(key,) if key else (),
            )
        )
    return issues or [Issue(diagnostics=_plain_detail(exc), code=code)]


def _plain_detail(exc: HTTPException) -> str:
    if exc.status_code == 404 and exc.detail in ("", "Not Found"):
        return (
            "Nothing here. This server has metadata, Questionnaire, QuestionnaireResponse, "
            "DocumentReference and Binary under /fhir."
        )
    if exc.status_code == 405:
        return "This interaction is not supported here; see /fhir/metadata for what is."
    return exc.detail


def outcome_for_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> HttpResponse[Any]:
    body = operation_outcome(_issues_for(exc))
    return fhir_response(body, exc.status_code, headers=exc.headers)


def outcome_for_intake(request: Request[Any, Any, Any], exc: IntakeRejected) -> HttpResponse[Any]:
    status_code = 400 if isinstance(exc, IntakeMalformed) else 422
    code = issue_code(status_code)
    issues = [
        Issue(diagnostics=p.message, code=code, expression=(p.expression,) if p.expression else ())
        for p in exc.problems
    ]
    return fhir_response(operation_outcome(issues), status_code)


def outcome_for_database(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
    logger.error("database unavailable during %s %s: %s", request.method, mask_path(request.url.path), exc)
    body = error_outcome(503, "The database is not answering; nothing was changed. Try again shortly.")
    return fhir_response(body, 503, headers={"Retry-After": "30"})


def outcome_for_unexpected(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
    logger.exception(
        "unhandled error during %s %s", request.method, mask_path(request.url.path), exc_info=exc
    )
    return fhir_response(error_outcome(500, "Internal server error; nothing was changed."), 500)


FHIR_EXCEPTION_HANDLERS: dict[type[Exception] | int, Callable[..., HttpResponse[Any]]] = {
    **exception_handlers(
        http=outcome_for_http_exception, database=outcome_for_database, unexpected=outcome_for_unexpected
    ),
    IntakeRejected: outcome_for_intake,
}


def is_fhir_path(path: str) -> bool:
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


def with_fhir_outcomes(
    handlers: Mapping[type[Exception] | int, Callable[..., HttpResponse[Any]]],
) -> dict[type[Exception] | int, Callable[..., HttpResponse[Any]]]:
    """App-level handlers that answer with an OperationOutcome under /fhir.

    Routing errors (no such path, method not allowed) never reach the FHIR router's own handlers,
    so the app-level ones must know about /fhir too.
    """

    def wrap(fallback: Callable[..., HttpResponse[Any]]) -> Callable[..., HttpResponse[Any]]:
        def answer(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
            if not is_fhir_path(request.url.path):
                return fallback(request, exc)
            if isinstance(exc, HTTPException):
                return outcome_for_http_exception(request, exc)
            return FHIR_EXCEPTION_HANDLERS[Exception](request, exc)

        return answer

    return {key: wrap(handler) for key, handler in handlers.items()}


# --- content negotiation and strict parameters --------------------------------------------------------


def _check_format(request: Request[Any, Any, Any]) -> None:
    wanted = request.query_params.get("_format")
    if wanted is not None and wanted.strip().lower() not in JSON_FORMATS:
        raise FhirError(
            406, f"_format {wanted!r} is not supported; this server speaks JSON only.", ("_format",)
        )
    accept = request.headers.get("accept", "").lower()
    if accept and "json" not in accept and "*/*" not in accept and PDF not in accept:
        raise FhirError(406, "This server answers in application/fhir+json only; set Accept accordingly.")


def _check_parameters(request: Request[Any, Any, Any], allowed: frozenset[str]) -> None:
    """Strict handling: an unknown or repeated parameter is an error, never silently ignored."""
    permitted = allowed | COMMON_PARAMETERS
    for key in request.query_params:
        if key not in permitted:
            if key.split(":", 1)[0] == "subject" and "subject:identifier" in permitted:
                message = (
                    "Only subject:identifier=system|value is supported (Patient resources are the EHR's)."
                )
            else:
                supported = ", ".join(sorted(permitted)) or "none"
                message = f"Unknown or unsupported search parameter {key!r}. Supported here: {supported}."
            raise FhirError(400, message, (key,))
        if key != "_lastUpdated" and len(request.query_params.getall(key)) > 1:
            raise FhirError(400, f"Give {key!r} once (use a comma for several values).", (key,))


def _check_request(request: Request[Any, Any, Any], allowed: frozenset[str] = frozenset()) -> None:
    _check_format(request)
    _check_parameters(request, allowed)


def _search_parameters(resource_type: str) -> frozenset[str]:
    names = {
        "subject:identifier" if name == "subject" else name for name, _, _ in SEARCH_PARAMETERS[resource_type]
    }
    return frozenset(names | {PAGING_PARAMETER})


_DATE_PATTERN = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _date_range(text: str) -> tuple[str, datetime, datetime]:
    """A FHIR date search value as (prefix, start, end): the instant range its precision covers."""
    # An unencoded "+02:00" arrives as " 02:00"; read it the way the client meant it.
    match = _DATE_PATTERN.match(re.sub(r" (\d{2}:\d{2})$", r"+\1", text.strip(" ")))
    if match is None:
        raise FhirError(
            400,
            f"_lastUpdated {text!r} is not a FHIR date: use e.g. ge2026-11-01 or lt2026-11-22T10:00:00Z.",
            ("_lastUpdated",),
        )
    prefix = match["prefix"] or "eq"
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise FhirError(400, f"_lastUpdated prefix {prefix!r} is not supported; use ge, gt, le or lt.")
    try:
        year = int(match["year"])
        if match["time"]:
            zone = match["zone"] or "+00:00"
            stamp = f"{year:04d}-{match['month']}-{match['day']}T{match['time']}{zone.replace('Z', '+00:00')}"
            start = datetime.fromisoformat(stamp).astimezone(UTC)
            time = match["time"]
            step = (
                timedelta(microseconds=1)
                if "." in time
                else timedelta(seconds=1)
                if time.count(":") == 2
                else timedelta(minutes=1)
            )
            return prefix, start, start + step
        if match["day"]:
            start = datetime(year, int(match["month"]), int(match["day"]), tzinfo=UTC)
            return prefix, start, start + timedelta(days=1)
        if match["month"]:
            month = int(match["month"])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return prefix, start, end
        return prefix, datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    except (ValueError, OverflowError):  # OverflowError: a time zone pushes the date past 9999 or 1
        raise FhirError(
            400, f"_lastUpdated {text!r} is not a real date or time.", ("_lastUpdated",)
        ) from None


def _updated_bounds(values: list[str]) -> tuple[tuple[str, datetime], ...]:
    bounds: list[tuple[str, datetime]] = []
    for value in values:
        prefix, start, end = _date_range(value)
        bounds.extend(
            {
                "eq": [("ge", start), ("lt", end)],
                "ge": [("ge", start)],
                "gt": [("ge", end)],
                "lt": [("lt", start)],
                "le": [("lt", end)],
            }[prefix]
        )
    return tuple(bounds)


def _statuses(text: str) -> tuple[str, ...]:
    ours: list[str] = []
    for code in (part.strip() for part in text.split(",")):
        if code not in FHIR_STATUS_TO_OURS:
            raise FhirError(
                400,
                f"status {code!r} is not a QuestionnaireResponse status; use in-progress or completed.",
                ("status",),
            )
        ours.extend(FHIR_STATUS_TO_OURS[code])
    return tuple(ours)


def _ids(text: str) -> tuple[uuid.UUID, ...]:
    found = []
    for part in text.split(","):
        try:
            found.append(uuid.UUID(part.strip()))
        except ValueError:
            continue  # an id this server cannot have simply matches nothing
    return tuple(found)


# --- loading and mapping ---------------------------------------------------------------------------


def fhir_base(settings: Settings) -> str:
    return f"{settings.base_url}{FHIR_PREFIX}"


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


def _record(row: PatientResponse) -> ResponseRecord:
    return ResponseRecord(
        id=str(row.id),
        status=row.status,
        answers=row.answers,
        patient_system=row.patient_system,
        patient_value=row.patient_value,
        patient_name=row.patient_name,
        updated_at=row.updated_at,
        authored_at=row.completed_at or row.updated_at,
        version_id=row.lock_version,
    )


async def _questionnaire_response(
    row: PatientResponse,
    db_session: AsyncSession,
    library: ContentLibrary,
    settings: Settings,
    forms: dict[tuple[str, str], FormDefinition] | None = None,
) -> FhirPayload:
    """`forms` caches the mapped questionnaire across the rows of one search page."""
    key = (row.questionnaire_slug, row.questionnaire_version)
    forms = {} if forms is None else forms
    if key not in forms:
        forms[key] = await _form_for(db_session, library, settings, *key)
    form = forms[key]
    return to_questionnaire_response(_record(row), form.questionnaire, form.fhir)


def _document_reference(row: PatientResponse, settings: Settings) -> FhirPayload:
    snapshot = SummarySnapshot.model_validate(row.summary)
    return document_reference(
        response_id=str(row.id),
        base_url=fhir_base(settings),
        patient_system=row.patient_system,
        patient_value=row.patient_value,
        patient_name=row.patient_name,
        completed_at=row.completed_at or row.updated_at,
        updated_at=row.updated_at,
        title=f"{snapshot.questionnaire_title}: summary for the care-team visit",
        filename=pdf_filename(snapshot),
    )


def _parse_id(resource_type: str, resource_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        raise FhirError(404, f"{resource_type}/{resource_id} does not exist.") from None


_WITHOUT_SUMMARY = (defer(PatientResponse.summary, raiseload=True),)  # type: ignore[arg-type]


async def _load_response(
    db_session: AsyncSession, resource_type: str, resource_id: str, *, needs_summary: bool = False
) -> PatientResponse:
    # The summary snapshot is the largest column (about 16 KB of JSON); parse it only when needed.
    options = () if needs_summary else _WITHOUT_SUMMARY
    row = await db_session.get(PatientResponse, _parse_id(resource_type, resource_id), options=options)
    if row is None or (needs_summary and not row.summary):
        detail = f"{resource_type}/{resource_id} does not exist."
        if row is not None:
            detail += " The summary exists once the response is completed."
        raise FhirError(404, detail)
    return row


def _page_url(settings: Settings, request: Request[Any, Any, Any], cursor: str | None) -> str:
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != PAGING_PARAMETER]
    if cursor:
        pairs.append((PAGING_PARAMETER, cursor))
    query = urlencode(pairs, safe=":|,")
    return f"{settings.base_url}{request.url.path}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class SearchRequest:
    subject: str | None
    status: str | None
    last_updated: list[str] | None
    ids: str | None
    count: int | None
    cursor: str | None


def _search_detail(search: SearchRequest, count: int) -> dict[str, Any]:
    """The search parameters given, by their FHIR names, for the audit record."""
    given = {
        "subject:identifier": search.subject,
        "status": search.status,
        "_lastUpdated": search.last_updated or None,
        "_id": search.ids,
        "_cursor": search.cursor,
    }
    return {name: value for name, value in given.items() if value is not None} | {"_count": count}


async def _searchset(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    api_client: ApiClient,
    settings: Settings,
    search: SearchRequest,
    *,
    resource_type: str,
    to_resource: Callable[[PatientResponse], Awaitable[FhirPayload]],
    via: str,
) -> HttpResponse[FhirPayload]:
    """One page of responses as a searchset Bundle of `resource_type`, each row's read audited (a
    page without rows, as with _count=0, audits the search itself, with its total)."""
    _check_request(request, _search_parameters(resource_type))
    try:
        system, value = parse_identifier(search.subject) if search.subject is not None else (None, None)
        after: Cursor | None = decode_cursor(search.cursor) if search.cursor is not None else None
    except SearchError as exc:
        raise FhirError(400, str(exc)) from None
    where = ResponseFilter(
        patient_system=system,
        patient_value=value,
        statuses=_statuses(search.status) if search.status is not None else None,
        ids=_ids(search.ids) if search.ids is not None else None,
        updated=_updated_bounds(search.last_updated or []),
        with_summary=resource_type == "DocumentReference",
    )
    count = DEFAULT_COUNT if search.count is None else search.count
    if not 0 <= count <= MAX_PAGE_SIZE:
        raise FhirError(400, f"_count must be between 0 and {MAX_PAGE_SIZE}.", ("_count",))
    page = await search_responses(db_session, where, limit=max(count, 1), after=after, with_total=True)
    rows = page.rows if count > 0 else []
    next_cursor = page.next_cursor if count > 0 else None
    resources = [await to_resource(row) for row in rows]
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
            detail={"via": via, "search": _search_detail(search, count), "total": page.total or 0},
        )
    bundle = searchset(
        resources,
        base_url=fhir_base(settings),
        total=page.total or 0,
        self_url=_page_url(settings, request, search.cursor),
        next_url=_page_url(settings, request, next_cursor) if next_cursor else None,
        timestamp=datetime.now(UTC),
    )
    return fhir_response(bundle)


async def _audited_read(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    api_client: ApiClient,
    resource_type: str,
    resource_id: str,
    *,
    via: str,
    needs_summary: bool = False,
) -> PatientResponse:
    """The response behind one resource read, with the read on the audit record."""
    _check_request(request)
    row = await _load_response(db_session, resource_type, resource_id, needs_summary=needs_summary)
    await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": via})
    return row


# --- OpenAPI documentation helpers -----------------------------------------------------------------


_EXAMPLE: FhirPayload = {
    "resourceType": "QuestionnaireResponse",
    "questionnaire": "https://sdm.example.org/fhir/Questionnaire/iort-sdm|1.0.0",
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


@dataclass
class _FhirCreateOperation(Operation):
    """Documents the QuestionnaireResponse body (read by hand so errors become OperationOutcomes)."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="A FHIR R4 QuestionnaireResponse for questionnaire url|version, with "
            "subject.identifier, status in-progress or completed, and answers by linkId.",
            content={
                media_type: OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT),
                    examples={"in-progress": Example(summary="A partly answered response", value=_EXAMPLE)},
                )
                for media_type in (FHIR_JSON, "application/json")
            },
        )


_SUBJECT = QueryParameter(
    name="subject:identifier",
    max_length=320,
    description="Patient identifier as system|value (or value for any system).",
)
_LAST_UPDATED = QueryParameter(
    name="_lastUpdated",
    description="Last change, with prefix ge, gt, le or lt (e.g. ge2026-11-01). Repeat for a range.",
)
_COUNT = QueryParameter(name="_count", ge=0, le=100, description="Page size (0 gives only the total).")
_CURSOR = QueryParameter(name="_cursor", max_length=200, description="Paging cursor from a next link.")
# Declared once on the router (a layered parameter carries its own type and default).
_FORMAT = QueryParameter(
    name="_format", annotation=str | None, default=None, description="json or application/fhir+json."
)
_ID = QueryParameter(name="_id", max_length=2000, description="Resource id(s), comma-separated.")
_URL = QueryParameter(name="url", description="Canonical URL (exact).")
_VERSION = QueryParameter(name="version", description="Business version (exact).")
_STATUS = QueryParameter(name="status", description="in-progress or completed (comma-separated for either).")

FHIR_TAGS = ["FHIR R4"]
# An empty requirement beside the router's bearer one: a token is accepted but not needed.
NO_TOKEN_NEEDED: list[dict[str, list[str]]] = [{}]


# --- handlers --------------------------------------------------------------------------------------


@get(
    "/metadata",
    opt={"public": True},
    security=NO_TOKEN_NEEDED,
    media_type=FHIR_JSON,
    summary="CapabilityStatement",
)
async def metadata(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
) -> HttpResponse[FhirPayload]:
    _check_request(request, frozenset({"mode"}))
    statement = capability_statement(
        base_url=fhir_base(settings), software_version=__version__, date=datetime(2026, 11, 22, tzinfo=UTC)
    )
    return fhir_response(statement)


@get(
    "/Questionnaire",
    opt={"public": True},
    security=NO_TOKEN_NEEDED,
    media_type=FHIR_JSON,
    summary="Search Questionnaire",
)
async def search_questionnaires(
    request: Request[Any, Any, Any],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
    url: Annotated[str | None, _URL] = None,
    version: Annotated[str | None, _VERSION] = None,
    ids: Annotated[str | None, _ID] = None,
) -> HttpResponse[FhirPayload]:
    _check_request(request, frozenset({"url", "version", "_id"}))
    wanted_ids = {part.strip() for part in ids.split(",")} if ids is not None else None
    found = []
    for questionnaire in library.questionnaires():
        resource = questionnaire_to_fhir(questionnaire, settings.base_url)
        if url is not None and resource["url"] != url.split("|", 1)[0]:
            continue
        if url is not None and "|" in url and url.split("|", 1)[1] != resource["version"]:
            continue
        if version is not None and resource["version"] != version:
            continue
        if wanted_ids is not None and resource["id"] not in wanted_ids:
            continue
        found.append(resource)
    bundle = searchset(
        found, base_url=fhir_base(settings), total=len(found), self_url=_page_url(settings, request, None)
    )
    return fhir_response(bundle)


@get(
    "/Questionnaire/{questionnaire_id:str}",
    opt={"public": True},
    security=NO_TOKEN_NEEDED,
    media_type=FHIR_JSON,
    summary="Read Questionnaire",
)
async def read_questionnaire(
    request: Request[Any, Any, Any],
    questionnaire_id: FromPath[str],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
) -> HttpResponse[FhirPayload]:
    _check_request(request)
    content = library.by_slug.get(questionnaire_id)
    if content is None:
        raise FhirError(404, f"Questionnaire/{questionnaire_id} does not exist. Try Questionnaire/iort-sdm.")
    return fhir_response(questionnaire_to_fhir(content.questionnaire, settings.base_url))


@get(
    "/QuestionnaireResponse",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Search QuestionnaireResponse",
    description="searchset Bundle ordered by last change, with total and a next link. Needs responses:read.",
)
async def search_questionnaire_responses(
    request: Request[Any, Any, Any],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
    subject: Annotated[str | None, _SUBJECT] = None,
    status: Annotated[str | None, _STATUS] = None,
    last_updated: Annotated[list[str] | None, _LAST_UPDATED] = None,
    ids: Annotated[str | None, _ID] = None,
    count: Annotated[int | None, _COUNT] = None,
    cursor: Annotated[str | None, _CURSOR] = None,
) -> HttpResponse[FhirPayload]:
    forms: dict[tuple[str, str], FormDefinition] = {}

    async def to_resource(row: PatientResponse) -> FhirPayload:
        return await _questionnaire_response(row, db_session, library, settings, forms)

    return await _searchset(
        request,
        db_session,
        api_client,
        settings,
        SearchRequest(subject, status, last_updated, ids, count, cursor),
        resource_type="QuestionnaireResponse",
        to_resource=to_resource,
        via="fhir-search",
    )


@get(
    "/QuestionnaireResponse/{resource_id:str}",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Read QuestionnaireResponse",
)
async def read_questionnaire_response(
    request: Request[Any, Any, Any],
    resource_id: FromPath[str],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
) -> HttpResponse[FhirPayload]:
    row = await _audited_read(
        request, db_session, api_client, "QuestionnaireResponse", resource_id, via="fhir-read"
    )
    resource = await _questionnaire_response(row, db_session, library, settings)
    return fhir_response(resource, headers={"ETag": f'W/"{row.lock_version}"'})


def _require_fhir_body(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    kind = (connection.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if kind not in ACCEPTED_BODY_TYPES:
        raise FhirError(
            415,
            "Send the resource as application/fhir+json (or application/json), "
            f"not {kind or 'no content type'}.",
        )


@post(
    "/QuestionnaireResponse",
    opt=scopes(RESPONSES_WRITE),
    guards=[_require_fhir_body],
    media_type=FHIR_JSON,
    status_code=HTTP_201_CREATED,
    request_max_body_size=MAX_BODY_BYTES,
    operation_class=_FhirCreateOperation,
    summary="Create a QuestionnaireResponse captured elsewhere",
    description="Validated against the Questionnaire (url|version, linkIds, answer types and codes, "
    "only enabled items, required items when completed). A completed response is summarised like any "
    "other. 201 with Location; 400/422 OperationOutcome listing every problem. Needs responses:write.",
)
async def create_questionnaire_response(
    request: Request[Any, Any, Any],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
) -> HttpResponse[FhirPayload]:
    _check_request(request)
    raw = await request.body()
    try:
        resource = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FhirError(400, f"The body is not valid JSON: {exc}.") from None
    except RecursionError:  # nesting deeper than any QuestionnaireResponse needs
        raise FhirError(400, "The body is nested too deeply to be a QuestionnaireResponse.") from None
    content = library.get("iort-sdm")
    row = await store_questionnaire_response(db_session, settings, content, resource)
    await record(
        db_session,
        actor(api_client),
        "api.response.create",
        entity_type="response",
        entity_id=str(row.id),
        ip=request_ip(request),
        detail={"via": "fhir", "status": row.status},
    )
    created = await _questionnaire_response(row, db_session, library, settings)
    location = f"{fhir_base(settings)}/QuestionnaireResponse/{row.id}"
    return fhir_response(created, HTTP_201_CREATED, headers={"Location": location})


@get(
    "/DocumentReference",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Search DocumentReference (PDF summaries)",
    description="One document per completed response; its attachment points at Binary/{id}. "
    "Needs responses:read.",
)
async def search_document_references(
    request: Request[Any, Any, Any],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    subject: Annotated[str | None, _SUBJECT] = None,
    last_updated: Annotated[list[str] | None, _LAST_UPDATED] = None,
    ids: Annotated[str | None, _ID] = None,
    count: Annotated[int | None, _COUNT] = None,
    cursor: Annotated[str | None, _CURSOR] = None,
) -> HttpResponse[FhirPayload]:

    async def to_resource(row: PatientResponse) -> FhirPayload:
        return _document_reference(row, settings)

    return await _searchset(
        request,
        db_session,
        api_client,
        settings,
        SearchRequest(subject, None, last_updated, ids, count, cursor),
        resource_type="DocumentReference",
        to_resource=to_resource,
        via="fhir-document-search",
    )


@get(
    "/DocumentReference/{resource_id:str}",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Read DocumentReference",
)
async def read_document_reference(
    request: Request[Any, Any, Any],
    resource_id: FromPath[str],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> HttpResponse[FhirPayload]:
    row = await _audited_read(
        request,
        db_session,
        api_client,
        "DocumentReference",
        resource_id,
        via="fhir-document",
        needs_summary=True,
    )
    return fhir_response(_document_reference(row, settings))


def _wants_pdf(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "").lower()
    return PDF in accept and "json" not in accept.split(PDF, 1)[0]


@get(
    "/Binary/{resource_id:str}",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Read Binary (the PDF summary)",
    description="With `Accept: application/pdf` the raw PDF; otherwise a Binary resource with base64 "
    "data. Needs responses:read.",
)
async def read_binary(
    request: Request[Any, Any, Any],
    resource_id: FromPath[str],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
) -> HttpResponse[Any]:
    row = await _audited_read(
        request, db_session, api_client, "Binary", resource_id, via="fhir-binary", needs_summary=True
    )
    snapshot = SummarySnapshot.model_validate(row.summary)
    if _wants_pdf(request) and request.query_params.get("_format") is None:
        return await summary_pdf_download(snapshot)
    return fhir_response(binary(str(row.id), await render_summary_pdf_async(snapshot)))


routes: list[Any] = [
    Router(
        FHIR_PREFIX,
        route_handlers=[
            metadata,
            search_questionnaires,
            read_questionnaire,
            search_questionnaire_responses,
            read_questionnaire_response,
            create_questionnaire_response,
            search_document_references,
            read_document_reference,
            read_binary,
        ],
        guards=[require_api_client],
        dependencies=API_CLIENT_DEPENDENCY,
        # Every interaction accepts _format; the handlers check it against the raw query string.
        parameters={"format_": _FORMAT},
        tags=FHIR_TAGS,
        security=SECURITY,
        exception_handlers=FHIR_EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY_BYTES,
    )
]
