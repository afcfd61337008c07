"""FHIR Task (SDC complete-questionnaire): create, read, search, and cancel by JSON Patch.

POST creates the invitation and answers with the Task carrying the patient's link (an input of type
patient-link, shown only in that answer); the status then follows the response. PATCH takes one
JSON Patch operation replacing /status with `cancelled`, which ends the patient's link at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any

from litestar import Response as HttpResponse
from litestar import get, patch, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, Reference, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from litestar.types import Guard

from sdm_service.api.auth import actor, scopes
from sdm_service.api.fhir import openapi, params
from sdm_service.api.fhir.bodies import JSON_PATCH, parse_body, require_fhir_body, require_json_patch
from sdm_service.api.fhir.common import SEARCH_DEPENDENCY, FhirCall, check_request, fhir_base, page_url
from sdm_service.api.fhir.errors import FhirError, FhirPayload, fhir_response
from sdm_service.audit import record
from sdm_service.content import Content, ContentLibrary
from sdm_service.content.fhir import questionnaire_url
from sdm_service.fhirmap.bundle import searchset
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.fhirmap.task import (
    COMPLETE_QUESTIONNAIRE,
    QUESTIONNAIRE_INPUT,
    SDC_CODES,
    TASK_STATUS_CODES,
    TaskRecord,
    read_task_order,
    requested_status,
    to_task,
)
from sdm_service.middleware import request_ip
from sdm_service.models import TaskStatus, utcnow
from sdm_service.services import tasks
from sdm_service.services.invitations import InvitationError
from sdm_service.services.search import MAX_PAGE_SIZE, SearchError, decode_cursor
from sdm_service.services.search import parse_identifier as parse_subject

# The create example names this deployment's questionnaire, so create_app builds it (components).
TASK_EXAMPLE = "TaskCreate"
CANCEL_PATCH = [{"op": "replace", "path": "/status", "value": "cancelled"}]


def task_example(content: Content, base_url: str) -> Example:
    value: FhirPayload = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": SDC_CODES, "code": COMPLETE_QUESTIONNAIRE}]},
        "for": {
            "type": "Patient",
            "identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-004211"},
            "display": "Ana Diaz",
        },
        "restriction": {"period": {"end": "2026-12-31T23:00:00Z"}},
        "input": [
            {
                "type": {"coding": [{"system": SDC_CODES, "code": QUESTIONNAIRE_INPUT}]},
                "valueCanonical": questionnaire_url(base_url, content.questionnaire),
            }
        ],
    }
    return Example(summary="Ask a patient to complete the questionnaire", value=value)


# What the handlers read first; the rest is FHIR R4's (its rules answer 400, the SDC Task's 422).
_TASK_BODY = Schema(
    type=OpenAPIType.OBJECT,
    required=["resourceType", "status", "intent"],
    properties={
        "resourceType": Schema(type=OpenAPIType.STRING, enum=["Task"]),
        "status": Schema(type=OpenAPIType.STRING, enum=["requested"]),
        "intent": Schema(type=OpenAPIType.STRING, enum=["order"]),
    },
)
# Exactly what requested_status() and the service accept: one operation setting /status to cancelled.
_PATCH_BODY = Schema(
    type=OpenAPIType.ARRAY,
    min_items=1,
    max_items=1,
    items=Schema(
        type=OpenAPIType.OBJECT,
        required=["op", "path", "value"],
        properties={
            "op": Schema(type=OpenAPIType.STRING, enum=["replace", "add"]),
            "path": Schema(type=OpenAPIType.STRING, enum=["/status"]),
            "value": Schema(type=OpenAPIType.STRING, enum=[TaskStatus.CANCELLED]),
        },
    ),
)


@dataclass
class TaskCreateOperation(Operation):
    def __post_init__(self) -> None:
        example = Reference(ref=f"#/components/examples/{TASK_EXAMPLE}")
        self.request_body = RequestBody(
            required=True,
            description="An SDC Task: code complete-questionnaire, the Questionnaire canonical as input, the "
            "patient by identifier in `for`, optional restriction.period.end and owner.",
            content={
                media_type: OpenAPIMediaType(schema=_TASK_BODY, examples={"example": example})
                for media_type in (FHIR_JSON, "application/json")
            },
        )


@dataclass
class TaskPatchOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="A JSON Patch that cancels the Task.",
            content={
                JSON_PATCH: OpenAPIMediaType(
                    schema=_PATCH_BODY, examples={"example": Example(summary="Cancel", value=CANCEL_PATCH)}
                )
            },
        )


_RESPONSES = openapi.READ_RESPONSES
_WRITE_RESPONSES = {
    **openapi.OUTCOMES,
    413: openapi.CREATE_RESPONSES[413],
    415: openapi.CREATE_RESPONSES[415],
    422: openapi.CREATE_RESPONSES[422],
}
_CONFLICT = ResponseSpec(
    data_container=dict[str, Any],
    media_type=FHIR_JSON,
    description="OperationOutcome: the Task is completed, so it can no longer be cancelled.",
    generate_examples=False,
)
_STALE = ResponseSpec(
    data_container=dict[str, Any],
    media_type=FHIR_JSON,
    description="OperationOutcome: If-Match names an older version of the Task.",
    generate_examples=False,
)


def _write_options(
    scope: str,
    body_check: Guard,
    operation_class: type[Operation],
    *,
    status_code: int = HTTP_200_OK,
    refusals: Mapping[int, ResponseSpec] | None = None,
) -> dict[str, Any]:
    """Route options of a Task write needing `scope`: `body_check` guards the body's content type, the
    answer is the Task with `status_code`, and the documented refusals are every write's plus `refusals`."""
    return {
        "opt": scopes(scope),
        "guards": [body_check],
        "media_type": FHIR_JSON,
        "status_code": status_code,
        "responses": {status_code: openapi.READ_RESPONSES[200], **_WRITE_RESPONSES, **(refusals or {})},
        "operation_class": operation_class,
    }


TASK_STATUS = QueryParameter(
    name="status",
    schema_extra={"pattern": params.codes_pattern(TASK_STATUS_CODES)},
    description="requested, in-progress, completed or cancelled (comma-separated for several).",
)


def _answer(
    record: TaskRecord, call: FhirCall, status_code: int = 200, **headers: str
) -> HttpResponse[FhirPayload]:
    return fhir_response(
        to_task(record, fhir_base(call.settings)),
        status_code,
        headers={"ETag": f'W/"{record.version}"', **headers},
    )


async def _audit(call: FhirCall, record: TaskRecord, action: str, **detail: Any) -> None:
    """Tasks name a patient: each one read is on the record, as a read of its response."""
    await call.audit(record.response_id, action=action, detail={"task": record.id, **detail})


def _task_id(text: str) -> uuid.UUID:
    return params.resource_id("Task", text)


@post(
    "/Task",
    **_write_options("system/Task.c", require_fhir_body, TaskCreateOperation, status_code=HTTP_201_CREATED),
    summary="Create a Task asking a patient to complete the questionnaire (SDC)",
    description="Creates the patient's invitation. The 201 answer is the Task with an input of type "
    "patient-link whose valueUrl is the link to send the patient: shown only in this answer. "
    "restriction.period.end sets the link's expiry (at most 365 days ahead). Needs system/Task.c.",
)
async def create_task(
    call: NamedDependency[FhirCall], library: NamedDependency[ContentLibrary]
) -> HttpResponse[FhirPayload]:
    request, settings = call.request, call.settings
    check_request(request)
    content = library.get(settings.questionnaire_slug)
    order = read_task_order(
        parse_body(await request.body()),
        questionnaire_url=questionnaire_url(settings.base_url, content.questionnaire),
        questionnaire_version=content.version,
    )
    try:
        created = await tasks.create_task(
            call.db_session,
            settings,
            content,
            patient_value=order.patient_value,
            patient_system=order.patient_system,
            patient_name=order.patient_name,
            expires_at=order.link_expires_at,
            # The patient's language (es-MX -> es; one the content lacks -> its default).
            language=content.choose_language(order.language) if order.language else None,
            owner=order.owner,
            requester=order.requester,
            client_id=call.api_client.id,
            client_name=call.api_client.name,
        )
    except InvitationError as exc:
        raise FhirError(422, str(exc)) from None
    new = tasks.created_record(created)
    await record(
        call.db_session,
        actor(call.api_client),
        "api.task.create",
        entity_type="task",
        entity_id=new.id,
        ip=request_ip(request),
        detail={"response_id": new.response_id, "invitation_id": str(created.created.invitation.id)},
    )
    location = f"{fhir_base(settings)}/Task/{new.id}"
    return _answer(new, call, HTTP_201_CREATED, Location=location)


@get(
    "/Task/{resource_id:str}",
    opt=scopes("system/Task.r"),
    media_type=FHIR_JSON,
    responses=_RESPONSES,
    summary="Read Task",
)
async def read_task(call: NamedDependency[FhirCall], resource_id: FromPath[str]) -> HttpResponse[FhirPayload]:
    check_request(call.request)
    try:
        found = await tasks.get_task(call.db_session, _task_id(resource_id))
    except tasks.TaskNotFound:
        raise FhirError(404, f"Task/{resource_id} does not exist.") from None
    await _audit(call, found, "api.task.read", via="fhir-read")
    return _answer(found, call)


def _statuses(text: str) -> tuple[str, ...]:
    codes = tuple(part.strip() for part in text.split(","))
    unknown = [code for code in codes if code not in TASK_STATUS_CODES]
    if unknown:
        raise FhirError(400, f"status {unknown[0]!r} is not a Task status.", ("status",))
    return codes


def _filter(search: params.SearchRequest) -> tuple[tasks.TaskFilter, Any, int]:
    try:
        system, value = parse_subject(search.subject) if search.subject is not None else (None, None)
        after = decode_cursor(search.cursor) if search.cursor is not None else None
    except SearchError as exc:
        raise FhirError(400, str(exc)) from None
    where = tasks.TaskFilter(
        patient_system=system,
        patient_value=value,
        statuses=_statuses(search.status) if search.status is not None else None,
        ids=params.ids(search.ids) if search.ids is not None else None,
        updated=params.updated_bounds(search.last_updated or []),
    )
    count = params.DEFAULT_COUNT if search.count is None else search.count
    if not 0 <= count <= MAX_PAGE_SIZE:
        raise FhirError(400, f"_count must be between 0 and {MAX_PAGE_SIZE}.", ("_count",))
    return where, after, count


@get(
    "/Task",
    opt=scopes("system/Task.s"),
    media_type=FHIR_JSON,
    responses=_RESPONSES,
    dependencies=SEARCH_DEPENDENCY,
    summary="Search Task",
    description="searchset Bundle ordered by last change, with total and a next link. Needs system/Task.s.",
)
async def search_tasks(
    call: NamedDependency[FhirCall],
    search: NamedDependency[params.SearchRequest],
    status: Annotated[str | None, TASK_STATUS] = None,
) -> HttpResponse[FhirPayload]:
    request, settings = call.request, call.settings
    check_request(request, params.search_parameters("Task"))
    search = replace(search, status=status)
    where, after, count = _filter(search)
    page = await tasks.search_tasks(call.db_session, where, limit=max(count, 1), after=after)
    found = page.records if count > 0 else []
    next_cursor = page.next_cursor if count > 0 else None
    for task in found:
        await _audit(call, task, "api.task.read", via="fhir-search")
    if not found:  # the total alone still says something about a patient
        detail = {"via": "fhir-search", "search": search.audit_detail(count), "total": page.total}
        await call.audit("", action="api.task.search", detail=detail)
    bundle = searchset(
        [to_task(task, fhir_base(settings)) for task in found],
        base_url=fhir_base(settings),
        total=page.total,
        self_url=page_url(settings, request, search.cursor),
        next_url=page_url(settings, request, next_cursor) if next_cursor else None,
        timestamp=utcnow(),
    )
    return fhir_response(bundle)


_ETAG = re.compile(r'^(?:W/)?"(\d+)"$')


def _expected_version(if_match: str | None) -> int | None:
    if not if_match:
        return None
    match = _ETAG.match(if_match.strip())
    if match is None:
        raise FhirError(400, 'If-Match must be an ETag of this server, e.g. W/"1".')
    return int(match[1])


@patch(
    "/Task/{resource_id:str}",
    **_write_options(
        "system/Task.u", require_json_patch, TaskPatchOperation, refusals={409: _CONFLICT, 412: _STALE}
    ),
    summary="Cancel a Task (JSON Patch of /status)",
    description='Body [{"op": "replace", "path": "/status", "value": "cancelled"}]: ends the '
    "patient's link at once. Other statuses follow the response and are refused (400); a completed Task "
    "cannot be cancelled (409). If-Match (the ETag) is honoured (412). Needs system/Task.u.",
)
async def patch_task(
    call: NamedDependency[FhirCall], resource_id: FromPath[str]
) -> HttpResponse[FhirPayload]:
    request = call.request
    check_request(request)
    task_id = _task_id(resource_id)
    wanted = requested_status(parse_body(await request.body()))
    expected = _expected_version(request.headers.get("if-match"))
    try:
        changed = await tasks.change_status(
            call.db_session,
            task_id,
            wanted,
            actor(call.api_client),
            ip=request_ip(request),
            expected_version=expected,
        )
    except tasks.TaskNotFound:
        raise FhirError(404, f"Task/{resource_id} does not exist.") from None
    except tasks.TaskTransitionRefused as exc:
        raise FhirError(exc.status_code, str(exc), ("Task.status",)) from None
    return _answer(changed, call)


routes = [create_task, search_tasks, read_task, patch_task]
