"""Friendly HTML error pages: people see what happened and what to do, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from sdm_service.errors import DATABASE_RETRY_AFTER_SECONDS, exception_handlers
from sdm_service.logging_filters import mask_path
from sdm_service.paths import CLINICIAN_PREFIX, MACHINE_PREFIXES, questionnaire_path
from sdm_service.settings import DEFAULT_QUESTIONNAIRE_SLUG, Settings

logger = logging.getLogger("sdm_service.errors")

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("We could not use that", "Something in the form was not what we expected. Go back and try again."),
    401: ("Please sign in", "You need to sign in to see this page."),
    403: (
        "Not allowed",
        "This page is not available with your link or account. If you were sent here, "
        "ask the clinic for a new link.",
    ),
    404: ("Page not found", "We could not find this page. Check the link, or ask the clinic for a new one."),
    405: ("Not allowed", "That action is not possible on this page."),
    409: (
        "Saved somewhere else first",
        "These answers were changed in another window. Reload to see the latest.",
    ),
    410: ("This link has ended", "This link has expired or was withdrawn. Ask the clinic for a new link."),
    413: (
        "Too much to send at once",
        "What you sent is larger than we accept. Shorten long answers and try again.",
    ),
    429: (
        "Please wait a moment",
        "There were too many tries in a short time. Wait a few minutes, then try again.",
    ),
    500: (
        "Something went wrong on our side",
        "Your earlier answers are safe. Please try again in a few minutes.",
    ),
    503: (
        "Temporarily unavailable",
        "The service cannot reach its storage right now. Your saved answers are "
        "safe. Please try again in a few minutes.",
    ),
}


def wants_html(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith(MACHINE_PREFIXES)


def _start_page(request: Request[Any, Any, Any]) -> str:
    app = request.scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    slug = settings.questionnaire_slug if isinstance(settings, Settings) else DEFAULT_QUESTIONNAIRE_SLUG
    return questionnaire_path(slug)


def error_page(request: Request[Any, Any, Any], status_code: int, detail: str | None = None) -> Template:
    title, message = MESSAGES.get(status_code, MESSAGES[500 if status_code >= 500 else 400])
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    # Point people back to their own part of the service: clinicians to the worklist.
    if request.url.path.startswith(CLINICIAN_PREFIX):
        home_url, home_label = CLINICIAN_PREFIX, "Go to the worklist"
    else:
        home_url, home_label = _start_page(request), "Go to the start page"
    return Template(
        template_name="error.html",
        context={
            "status_code": status_code,
            "title": title,
            "message": message,
            "detail": detail,
            "home_url": home_url,
            "home_label": home_label,
        },
        status_code=status_code,
        headers=headers,
    )


def _problem(status_code: int, detail: str, extra: dict[str, Any] | None = None) -> Response[Any]:
    body: dict[str, Any] = {"status_code": status_code, "detail": detail}
    if extra:
        body.update(extra)
    return Response(body, status_code=status_code, headers={"Cache-Control": "no-store"})


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if not wants_html(request):
        extra = {"extra": exc.extra} if isinstance(exc, ValidationException) and exc.extra else None
        response = _problem(exc.status_code, exc.detail, extra)
    else:
        response = error_page(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _database_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.error("database unavailable during %s %s: %s", request.method, mask_path(request.url.path), exc)
    answer = (
        error_page(request, 503)
        if wants_html(request)
        else _problem(503, "The database is not answering; nothing was changed. Try again shortly.")
    )
    answer.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return answer


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception(
        "unhandled error during %s %s", request.method, mask_path(request.url.path), exc_info=exc
    )
    if wants_html(request):
        return error_page(request, HTTP_500_INTERNAL_SERVER_ERROR)
    return _problem(500, "Internal server error; nothing was changed.")


def html_exception_handlers() -> dict[type[Exception] | int, Callable[..., Response[Any]]]:
    """HTML pages for people, problem JSON for machine paths (see errors.py for what means what)."""
    return exception_handlers(http=_http_exception, database=_database_unavailable, unexpected=_unexpected)
