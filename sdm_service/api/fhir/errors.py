"""FHIR errors: every failure under /fhir answers as an OperationOutcome with the right status."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from litestar import Request
from litestar import Response as HttpResponse
from litestar.exceptions import HTTPException

from sdm_service.errors import DATABASE_RETRY_AFTER_SECONDS, exception_handlers
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.fhirmap.outcome import Issue, error_outcome, issue_code, operation_outcome
from sdm_service.fhirmap.task import TaskRejected
from sdm_service.logging_filters import mask_path
from sdm_service.services.intake import IntakeMalformed, IntakeRejected

logger = logging.getLogger("sdm_service.fhir")

FHIR_PREFIX = "/fhir"

FhirPayload = dict[str, Any]
ExceptionHandlers = dict[type[Exception] | int, Callable[..., HttpResponse[Any]]]


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
            "DocumentReference, Binary and Task under /fhir."
        )
    if exc.status_code == 405:
        return "This interaction is not supported here; see /fhir/metadata for what is."
    return exc.detail


def outcome_for_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> HttpResponse[Any]:
    body = operation_outcome(_issues_for(exc))
    return fhir_response(body, exc.status_code, headers=exc.headers)


def outcome_for_intake(request: Request[Any, Any, Any], exc: IntakeRejected) -> HttpResponse[Any]:
    # Not a valid resource: 400; a valid resource that breaks the questionnaire's rules: 422.
    status_code = 400 if isinstance(exc, IntakeMalformed) else 422
    code = issue_code(status_code)
    issues = [
        Issue(diagnostics=p.message, code=code, expression=(p.expression,) if p.expression else ())
        for p in exc.problems
    ]
    return fhir_response(operation_outcome(issues), status_code)


def outcome_for_task(request: Request[Any, Any, Any], exc: TaskRejected) -> HttpResponse[Any]:
    code = issue_code(exc.status_code)
    issues = [
        Issue(diagnostics=p.message, code=code, expression=(p.expression,) if p.expression else ())
        for p in exc.problems
    ]
    return fhir_response(operation_outcome(issues), exc.status_code)


def outcome_for_database(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
    logger.error("database unavailable during %s %s: %s", request.method, mask_path(request.url.path), exc)
    body = error_outcome(503, "The database is not answering; nothing was changed. Try again shortly.")
    return fhir_response(body, 503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def outcome_for_unexpected(request: Request[Any, Any, Any], exc: Exception) -> HttpResponse[Any]:
    logger.exception(
        "unhandled error during %s %s", request.method, mask_path(request.url.path), exc_info=exc
    )
    return fhir_response(error_outcome(500, "Internal server error; nothing was changed."), 500)


FHIR_EXCEPTION_HANDLERS: ExceptionHandlers = {
    **exception_handlers(
        http=outcome_for_http_exception, database=outcome_for_database, unexpected=outcome_for_unexpected
    ),
    IntakeRejected: outcome_for_intake,
    TaskRejected: outcome_for_task,
}


def is_fhir_path(path: str) -> bool:
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


def with_fhir_outcomes(
    handlers: Mapping[type[Exception] | int, Callable[..., HttpResponse[Any]]],
) -> ExceptionHandlers:
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
