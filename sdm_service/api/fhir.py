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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Router, get, post
from litestar import Response as HttpResponse
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

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
from sdm_service.content import Content, ContentLibrary
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.schema import Questionnaire
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.fhirmap.bundle import searchset
from sdm_service.fhirmap.capability import SEARCH_PARAMETERS, capability_statement
from sdm_service.fhirmap.common import FHIR_JSON, FHIR_STATUS_TO_OURS
from sdm_service.fhirmap.document import PDF, binary, document_reference
from sdm_service.fhirmap.outcome import Issue, error_outcome, issue_code, operation_outcome
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.models import ApiClient, QuestionnaireVersion, Response
from sdm_service.report.pdf import pdf_filename, render_summary_pdf_async
from sdm_service.security import request_ip
from sdm_service.services.intake import IntakeRejected, store_questionnaire_response
from sdm_service.settings import Settings

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
    code = issue_code(exc.status_code)
    issues = [
        Issue(diagnostics=p.message, code=code, expression=(p.expression,) if p.expression else ())
        for p in exc.problems
    ]
    return fhir_response(operation_outcome(issues), exc.status_code)


def outcome_for_database(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
    logger.error("database unavailable during %s %s: %s", request.method, request.url.path, exc)
    body = error_outcome(503, "The database is not answering; nothing was changed. Try again shortly.")
    return fhir_response(body, 503, headers={"Retry-After": "30"})


def outcome_for_unexpected(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
    logger.exception("unhandled error during %s %s", request.method, request.url.path, exc_info=exc)
    return fhir_response(error_outcome(500, "Internal server error; nothing was changed."), 500)


FHIR_EXCEPTION_HANDLERS: dict[type[Exception] | int, Callable[..., HttpResponse[Any]]] = {
    HTTPException: outcome_for_http_exception,
    IntakeRejected: outcome_for_intake,
    OperationalError: outcome_for_database,
    PoolTimeoutError: outcome_for_database,
    InterfaceError: outcome_for_database,
    ConnectionError: outcome_for_database,
    OSError: outcome_for_database,
    Exception: outcome_for_unexpected,
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
            if isinstance(
                exc, OperationalError | PoolTimeoutError | InterfaceError | ConnectionError | OSError
            ):
                return outcome_for_database(request, exc)
            return outcome_for_unexpected(request, exc)

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
    except ValueError:
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
    """The questionnaire a response is pinned to: the loaded one, or an older stored version."""
    content: Content | None = library.by_slug.get(slug)
    questionnaire = content.questionnaire if content and content.version == version else None
    if questionnaire is None:
        stored = (
            await db_session.execute(
                select(QuestionnaireVersion).where(
                    col(QuestionnaireVersion.slug) == slug, col(QuestionnaireVersion.version) == version
                )
            )
        ).scalar_one_or_none()
        if stored is None and content is None:
            raise FhirError(500, f"The questionnaire {slug} {version} of this response is not available.")
        # An in-progress response on an older version has no stored definition (versions are kept
        # at completion); its answers are laid out on the current form, under its own version.
        questionnaire = (
            Questionnaire.model_validate(stored.definition["questionnaire"])
            if stored is not None
            else content.questionnaire  # type: ignore[union-attr]
        )
    fhir = questionnaire_to_fhir(questionnaire, settings.base_url)
    return FormDefinition(questionnaire, {**fhir, "version": version})


def _record(row: Response) -> ResponseRecord:
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
    row: Response,
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


def _document_reference(row: Response, settings: Settings) -> FhirPayload:
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


async def _load_response(
    db_session: AsyncSession, resource_type: str, resource_id: str, *, needs_summary: bool = False
) -> Response:
    row = await db_session.get(Response, _parse_id(resource_type, resource_id))
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


async def _search_rows(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    resource_type: str,
    search: SearchRequest,
) -> tuple[list[Response], int, str, str | None]:
    _check_format(request)
    _check_parameters(request, _search_parameters(resource_type))
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
    self_url = _page_url(settings, request, search.cursor)
    next_url = _page_url(settings, request, next_cursor) if next_cursor else None
    return rows, page.total or 0, self_url, next_url


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


_SUBJECT = Parameter(
    query="subject:identifier",
    default=None,
    max_length=320,
    description="Patient identifier as system|value (or value for any system).",
)
_LAST_UPDATED = Parameter(
    query="_lastUpdated",
    default=None,
    description="Last change, with prefix ge, gt, le or lt (e.g. ge2026-11-01). Repeat for a range.",
)
_COUNT = Parameter(
    query="_count", default=None, ge=0, le=100, description="Page size (0 gives only the total)."
)
_CURSOR = Parameter(
    query="_cursor", default=None, max_length=200, description="Paging cursor from a next link."
)
_FORMAT = Parameter(query="_format", default=None, description="json or application/fhir+json.")
_ID = Parameter(query="_id", default=None, max_length=2000, description="Resource id(s), comma-separated.")

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
    tags=FHIR_TAGS,
)
async def metadata(
    request: Request[Any, Any, Any],
    settings: Settings,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    _check_format(request)
    _check_parameters(request, frozenset({"mode"}))
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
    tags=FHIR_TAGS,
)
async def search_questionnaires(
    request: Request[Any, Any, Any],
    settings: Settings,
    library: ContentLibrary,
    url: str | None = Parameter(query="url", default=None, description="Canonical URL (exact)."),
    version: str | None = Parameter(query="version", default=None, description="Business version (exact)."),
    ids: str | None = _ID,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    _check_format(request)
    _check_parameters(request, frozenset({"url", "version", "_id"}))
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
    tags=FHIR_TAGS,
)
async def read_questionnaire(
    request: Request[Any, Any, Any],
    questionnaire_id: str,
    settings: Settings,
    library: ContentLibrary,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    _check_format(request)
    _check_parameters(request, frozenset())
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
    tags=FHIR_TAGS,
)
async def search_questionnaire_responses(
    request: Request[Any, Any, Any],
    api_client: ApiClient,
    db_session: AsyncSession,
    settings: Settings,
    library: ContentLibrary,
    subject: str | None = _SUBJECT,
    status: str | None = Parameter(
        query="status", default=None, description="in-progress or completed (comma-separated for either)."
    ),
    last_updated: list[str] | None = _LAST_UPDATED,
    ids: str | None = _ID,
    count: int | None = _COUNT,
    cursor: str | None = _CURSOR,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    search = SearchRequest(subject, status, last_updated, ids, count, cursor)
    rows, total, self_url, next_url = await _search_rows(
        request, db_session, settings, "QuestionnaireResponse", search
    )
    forms: dict[tuple[str, str], FormDefinition] = {}
    resources = [await _questionnaire_response(row, db_session, library, settings, forms) for row in rows]
    for row in rows:
        await audit_read(
            db_session, api_client, request, entity_id=str(row.id), detail={"via": "fhir-search"}
        )
    bundle = searchset(
        resources,
        base_url=fhir_base(settings),
        total=total,
        self_url=self_url,
        next_url=next_url,
        timestamp=datetime.now(UTC),
    )
    return fhir_response(bundle)


@get(
    "/QuestionnaireResponse/{resource_id:str}",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Read QuestionnaireResponse",
    tags=FHIR_TAGS,
)
async def read_questionnaire_response(
    request: Request[Any, Any, Any],
    resource_id: str,
    api_client: ApiClient,
    db_session: AsyncSession,
    settings: Settings,
    library: ContentLibrary,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    _check_format(request)
    _check_parameters(request, frozenset())
    row = await _load_response(db_session, "QuestionnaireResponse", resource_id)
    resource = await _questionnaire_response(row, db_session, library, settings)
    await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": "fhir-read"})
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
    tags=FHIR_TAGS,
)
async def create_questionnaire_response(
    request: Request[Any, Any, Any],
    api_client: ApiClient,
    db_session: AsyncSession,
    settings: Settings,
    library: ContentLibrary,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    _check_format(request)
    _check_parameters(request, frozenset())
    raw = await request.body()
    try:
        resource = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FhirError(400, f"The body is not valid JSON: {exc}.") from None
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
    tags=FHIR_TAGS,
)
async def search_document_references(
    request: Request[Any, Any, Any],
    api_client: ApiClient,
    db_session: AsyncSession,
    settings: Settings,
    subject: str | None = _SUBJECT,
    last_updated: list[str] | None = _LAST_UPDATED,
    ids: str | None = _ID,
    count: int | None = _COUNT,
    cursor: str | None = _CURSOR,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    search = SearchRequest(subject, None, last_updated, ids, count, cursor)
    rows, total, self_url, next_url = await _search_rows(
        request, db_session, settings, "DocumentReference", search
    )
    for row in rows:
        await audit_read(
            db_session, api_client, request, entity_id=str(row.id), detail={"via": "fhir-document-search"}
        )
    bundle = searchset(
        [_document_reference(row, settings) for row in rows],
        base_url=fhir_base(settings),
        total=total,
        self_url=self_url,
        next_url=next_url,
        timestamp=datetime.now(UTC),
    )
    return fhir_response(bundle)


@get(
    "/DocumentReference/{resource_id:str}",
    opt=scopes(RESPONSES_READ),
    media_type=FHIR_JSON,
    summary="Read DocumentReference",
    tags=FHIR_TAGS,
)
async def read_document_reference(
    request: Request[Any, Any, Any],
    resource_id: str,
    api_client: ApiClient,
    db_session: AsyncSession,
    settings: Settings,
    format_: str | None = _FORMAT,
) -> HttpResponse[FhirPayload]:
    _check_format(request)
    _check_parameters(request, frozenset())
    row = await _load_response(db_session, "DocumentReference", resource_id, needs_summary=True)
    await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": "fhir-document"})
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
    tags=FHIR_TAGS,
)
async def read_binary(
    request: Request[Any, Any, Any],
    resource_id: str,
    api_client: ApiClient,
    db_session: AsyncSession,
    format_: str | None = _FORMAT,
) -> HttpResponse[Any]:
    _check_format(request)
    _check_parameters(request, frozenset())
    row = await _load_response(db_session, "Binary", resource_id, needs_summary=True)
    snapshot = SummarySnapshot.model_validate(row.summary)
    pdf = await render_summary_pdf_async(snapshot)
    await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": "fhir-binary"})
    if _wants_pdf(request) and request.query_params.get("_format") is None:
        return HttpResponse(
            pdf,
            media_type=PDF,
            headers={
                "Content-Disposition": f'attachment; filename="{pdf_filename(snapshot)}"',
                "Cache-Control": "no-store",
            },
        )
    return fhir_response(binary(str(row.id), pdf))


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
        security=SECURITY,
        exception_handlers=FHIR_EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY_BYTES,
    )
]
