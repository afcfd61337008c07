"""JSON API v1 for integration clients: invitations, responses, summaries and PDFs.

Every route needs a bearer token (see api/auth.py); every read of patient data is audited; all
answers carry Cache-Control: no-store. Errors are JSON problems: {"status_code", "detail", "extra"}.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar import Response as HttpResponse
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import (
    ClientException,
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_409_CONFLICT
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.api.auth import (
    API_CLIENT_DEPENDENCY,
    SECURITY,
    actor,
    audit_read,
    require_api_client,
    scopes,
)
from sdm_service.api.schemas import (
    EXAMPLE_INVITATION_CREATED,
    EXAMPLE_INVITATION_REQUEST,
    EXAMPLE_PROBLEMS,
    AccessEnded,
    InvitationCreate,
    InvitationCreated,
    Problem,
    ResponseDetail,
    ResponseListItem,
    ResponsePage,
    StatusName,
    example_detail,
)
from sdm_service.audit import record
from sdm_service.content import ContentLibrary
from sdm_service.middleware import request_ip
from sdm_service.models import ApiClient, PatientResponse
from sdm_service.services import documents, patient_links, tasks
from sdm_service.services.invitations import InvitationError
from sdm_service.services.search import (
    CURSOR_PATTERN,
    IDENTIFIER_PATTERN,
    ResponseFilter,
    SearchError,
    as_utc,
    decode_cursor,
    parse_identifier,
    search_responses,
)
from sdm_service.services.search import get_response as response_by_id
from sdm_service.settings import Settings

logger = logging.getLogger("sdm_service.api")

NO_STORE = CacheControlHeader(no_store=True)


def _example(value: Any, summary: str = "Example") -> list[Example]:
    return [Example(summary=summary, value=value)]


def _problem_spec(status_code: int, description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        description=description,
        examples=_example(EXAMPLE_PROBLEMS[status_code]),
        generate_examples=False,
    )


def _success_spec(model: type[Any], value: Any, description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=model, description=description, examples=_example(value), generate_examples=False
    )


AUTH_ERRORS = {
    401: _problem_spec(401, "Missing, unknown or revoked token (see the WWW-Authenticate header)."),
    403: _problem_spec(403, "The token does not have the scope this operation needs."),
}
NOT_FOUND = {404: _problem_spec(404, "No response has this id.")}
BAD_INPUT = {400: _problem_spec(400, "A parameter or the body is not valid; `extra` says which.")}


def _problem_response(request: Request[Any, Any, Any], exc: HTTPException) -> HttpResponse[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    headers = {"Cache-Control": "no-store", **(exc.headers or {})}
    return HttpResponse(body, status_code=exc.status_code, headers=headers)


def _is_number(text: str) -> bool:
    """A query value written as a number: read as a Unix timestamp by the parser, not a date-time."""
    try:
        float(text)
    except ValueError:
        return False
    return True


async def _load(db_session: AsyncSession, response_id: uuid.UUID) -> PatientResponse:
    response = await response_by_id(db_session, response_id, with_summary=True)
    if response is None:
        raise NotFoundException(detail=f"No response has the id {response_id}.")
    return response


@post(
    "/invitations",
    opt=scopes("system/Task.c"),
    status_code=HTTP_201_CREATED,
    summary="Create an invitation link for a patient",
    description="Creates the patient's response (status `invited`), a link to send them, and the FHIR "
    "Task (SDC complete-questionnaire) that follows it (`task_id`). The link is returned only here. "
    "Needs scope `system/Task.c` (older tokens: `invitations:write`).",
    responses={
        201: _success_spec(InvitationCreated, EXAMPLE_INVITATION_CREATED, "The invitation and its link."),
        **BAD_INPUT,
        **AUTH_ERRORS,
        413: _problem_spec(413, "The body is larger than the JSON body limit (SDM_MAX_JSON_BODY_BYTES)."),
    },
)
async def post_invitation(
    request: Request[Any, Any, Any],
    data: Annotated[
        InvitationCreate, Body(examples=_example(EXAMPLE_INVITATION_REQUEST, "Invite a patient by MRN"))
    ],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
) -> InvitationCreated:
    try:
        new = await tasks.create_task(
            db_session,
            settings,
            library.get(settings.questionnaire_slug),
            patient_system=data.patient.system,
            patient_value=data.patient.value,
            patient_name=data.name,
            consult_date=data.consult_date,
            language=data.language,
            ttl_days=data.ttl_days,
            client_id=api_client.id,
            client_name=api_client.name,
        )
    except InvitationError as exc:
        raise ValidationException(detail=str(exc)) from None
    created = new.created
    await record(
        db_session,
        actor(api_client),
        "api.invitation.create",
        entity_type="invitation",
        entity_id=str(created.invitation.id),
        ip=request_ip(request),
        detail={"response_id": str(created.response.id), "task_id": str(new.task.id)},
    )
    return InvitationCreated(
        invitation_id=created.invitation.id,
        response_id=created.response.id,
        url=created.url,
        expires_at=created.invitation.expires_at,
        task_id=new.task.id,
    )


@get(
    "/responses",
    opt=scopes("system/QuestionnaireResponse.s"),
    summary="List responses",
    description="Filter by patient identifier, status and last change; pages of up to 100, oldest "
    "change first. Follow `next_cursor` until it is null. Needs scope `system/QuestionnaireResponse.s` "
    "(older tokens: `responses:read`).",
    responses={**BAD_INPUT, **AUTH_ERRORS},
)
async def list_responses(
    request: Request[Any, Any, Any],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    patient: Annotated[
        str | None,
        QueryParameter(
            name="patient",
            max_length=320,
            schema_extra={"pattern": IDENTIFIER_PATTERN},
            description="Patient identifier as `system|value`, or just `value` for any system.",
        ),
    ] = None,
    status: Annotated[
        StatusName | None, QueryParameter(name="status", description="Only this status.")
    ] = None,
    updated_since: Annotated[
        datetime | None,
        QueryParameter(
            name="updated_since",
            description="Only responses changed at or after this ISO 8601 time (UTC if no zone is given).",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        QueryParameter(
            name="cursor",
            schema_extra={"pattern": CURSOR_PATTERN},
            description="`next_cursor` of the previous page.",
        ),
    ] = None,
    limit: Annotated[int, QueryParameter(name="limit", ge=1, le=100, description="Page size.")] = 50,
) -> ResponsePage:
    try:
        system, value = parse_identifier(patient) if patient is not None else (None, None)
        after = decode_cursor(cursor) if cursor is not None else None
        if updated_since is not None and _is_number(request.query_params.get("updated_since", "")):
            raise SearchError("updated_since must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z.")
        since = as_utc(updated_since) if updated_since else None
    except SearchError as exc:
        raise ValidationException(detail=str(exc)) from None
    where = ResponseFilter(
        patient_system=system,
        patient_value=value,
        statuses=(status,) if status else None,
        updated=(("ge", since),) if since else (),
    )
    page = await search_responses(db_session, where, limit=limit, after=after)
    for row in page.rows:
        await audit_read(db_session, api_client, request, entity_id=str(row.id), detail={"via": "list"})
    if not page.rows:
        # As the FHIR search: no row was read, but the answer (none) still tells about a patient.
        given = {"patient": patient, "status": status, "updated_since": updated_since, "cursor": cursor}
        search = {name: str(value) for name, value in given.items() if value is not None} | {"limit": limit}
        await audit_read(
            db_session,
            api_client,
            request,
            entity_id="",
            action="api.response.search",
            detail={"via": "list", "search": search, "total": 0},
        )
    return ResponsePage(
        items=[ResponseListItem.from_row(row, settings.base_url) for row in page.rows],
        next_cursor=page.next_cursor,
    )


@get(
    "/responses/{response_id:uuid}",
    opt=scopes("system/QuestionnaireResponse.r"),
    summary="Get one response with its answers and summary",
    description="The summary (ranked priorities, conflict score, discussion points with evidence) is "
    "present once the response is completed. Needs scope `system/QuestionnaireResponse.r` "
    "(older tokens: `responses:read`).",
    responses={
        200: _success_spec(ResponseDetail, example_detail(), "The response with its answers and summary."),
        **AUTH_ERRORS,
        **NOT_FOUND,
    },
)
async def get_response(
    request: Request[Any, Any, Any],
    response_id: FromPath[uuid.UUID],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> ResponseDetail:
    response = await _load(db_session, response_id)
    await audit_read(db_session, api_client, request, entity_id=str(response.id))
    return ResponseDetail.from_row(response, settings.base_url)


@get(
    "/responses/{response_id:uuid}/summary.pdf",
    opt=scopes("system/Binary.r"),
    media_type="application/pdf",
    summary="Download the PDF summary",
    description="The document of record: the bytes stored at completion, the same on every channel and "
    "for every later release. 409 until the response is completed. "
    "Needs scope `system/Binary.r` (older tokens: `responses:read`).",
    responses={
        **AUTH_ERRORS,
        **NOT_FOUND,
        409: _problem_spec(409, "The response is not completed yet, so it has no summary."),
    },
)
async def get_summary_pdf(
    request: Request[Any, Any, Any],
    response_id: FromPath[uuid.UUID],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
    autocommit_engine: NamedDependency[AsyncEngine],
) -> HttpResponse[bytes]:
    async def completed() -> PatientResponse:  # only when nothing is stored: 404, 409 or store first
        response = await _load(db_session, response_id)
        if not response.summary:
            raise ClientException(
                status_code=HTTP_409_CONFLICT,
                detail=f"Response {response_id} is {response.status}; the PDF exists once it is completed.",
            )
        return response

    pdf = await documents.document_of_record(db_session, response_id, completed)
    # Committed now: the write lock is not held while the document's bytes are sent.
    await audit_read(
        db_session,
        api_client,
        request,
        entity_id=str(response_id),
        detail={"format": "pdf"},
        autocommit_engine=autocommit_engine,
    )
    return HttpResponse(pdf.content, media_type=documents.PDF_MEDIA_TYPE, headers=pdf.download_headers())


@post(
    "/responses/{response_id:uuid}/end-access",
    opt=scopes("system/Task.u"),
    status_code=200,
    summary="End the patient's access to a response",
    description="From now on the patient's invitation link, resume link and browser cookie open a page "
    "telling them to ask the clinic for a new link (410); their answers stay stored and readable here. "
    "Links also end by themselves after SDM_RESUME_IDLE_DAYS without use and "
    "SDM_RESUME_AFTER_COMPLETION_DAYS after completion. Calling it again changes nothing. Audited as "
    "`response.access_ended`. Needs scope `system/Task.u` (older tokens: `invitations:write`).",
    responses={
        200: _success_spec(
            AccessEnded,
            {
                "response_id": "0b9f5b9e-6a53-4c63-9a43-52f1b6e3c0a1",
                "access_ended_at": "2026-12-01T10:00:00Z",
            },
            "When the patient's access ended.",
        ),
        **AUTH_ERRORS,
        **NOT_FOUND,
    },
)
async def end_access(
    request: Request[Any, Any, Any],
    response_id: FromPath[uuid.UUID],
    api_client: NamedDependency[ApiClient],
    db_session: NamedDependency[AsyncSession],
) -> AccessEnded:
    response = await db_session.get(PatientResponse, response_id)
    if response is None:
        raise NotFoundException(detail=f"No response has the id {response_id}.")
    ended = await patient_links.end_access(db_session, response, actor(api_client), ip=request_ip(request))
    return AccessEnded(response_id=response.id, access_ended_at=ended)


routes: list[Any] = [
    Router(
        "/api/v1",
        route_handlers=[post_invitation, list_responses, get_response, get_summary_pdf, end_access],
        guards=[require_api_client],
        dependencies=API_CLIENT_DEPENDENCY,
        security=SECURITY,
        tags=["JSON API v1"],
        cache_control=NO_STORE,
        # No body size here: the JSON body limit of the settings (SDM_MAX_JSON_BODY_BYTES) applies
        # to every route before the body is read (middleware.BodySizeLimitMiddleware).
        exception_handlers={HTTPException: _problem_response},
    )
]
