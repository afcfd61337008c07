"""Who the patient is: the cookie holding their link token, the pages for a missing session or
a bad link, and the `visit` dependency that finds the patient's own response."""

from __future__ import annotations

from typing import Any, NamedTuple

from litestar import Request
from litestar.datastructures import Cookie, ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.content import Content, ContentLibrary
from sdm_service.i18n import N_, negotiate
from sdm_service.middleware import request_ip
from sdm_service.models import PatientResponse, utcnow
from sdm_service.ratelimit import Limit, RateLimitStore, enforce
from sdm_service.services import patient_links
from sdm_service.services import responses as response_service
from sdm_service.settings import PATIENT_COOKIE as PATIENT_COOKIE  # its name outside production
from sdm_service.settings import Settings
from sdm_service.web.patient.flow import question_step_count
from sdm_service.web.patient.language import use_language

# Link lookups per client address: enough for real people, far too few to guess a 256-bit token.
BAD_COOKIE_LIMIT = Limit("patient-cookie", 30, 60)
START_LIMIT = Limit("patient-start", 60, 600)  # a clinic waiting room may share one address


# ---------------------------------------------------------------------------------------------
# Problems shown on their own friendly pages


class NoPatientSession(HTTPException):
    """The browser has no (valid) link to any answers."""

    status_code = 403


class LinkProblem(HTTPException):
    """An invitation or resume link that is unknown (404), or expired/withdrawn (410)."""

    def __init__(self, reason: str) -> None:
        super().__init__(status_code=404 if reason == "unknown" else 410, detail=reason)
        self.reason = reason


def page(template_name: str, context: dict[str, Any], *, status_code: int = 200) -> Template:
    """A patient page: it shows answers or links, so no browser or proxy may keep a copy."""
    return Template(
        template_name=template_name,
        context=context,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _browser_language(request: Request[Any, Any, Any]) -> None:
    """Pages shown before any response is known speak the browser's language, if offered."""
    catalogs = request.app.state.catalogs
    request.state.language = negotiate(request.headers.get("accept-language"), catalogs.languages) or "en"


def _no_session_page(request: Request[Any, Any, Any], exc: NoPatientSession) -> Template:
    _browser_language(request)
    return page(
        "patient/no_session.html",
        {"page_title": N_("We could not find your answers")},
        status_code=403,
    )


def _link_problem_page(request: Request[Any, Any, Any], exc: LinkProblem) -> Template:
    _browser_language(request)
    titles = {
        "unknown": N_("We do not recognise this link"),
        "expired": N_("This link has expired"),
        "revoked": N_("This link was withdrawn"),
    }
    return page(
        "patient/link_problem.html",
        {"page_title": titles.get(exc.reason, titles["unknown"]), "reason": exc.reason},
        status_code=exc.status_code,
    )


def patient_cookie(settings: Settings, token: str) -> Cookie:
    # A session cookie: on a shared computer the answers are not left open; the link brings them back.
    return Cookie(
        key=settings.cookies.patient,
        value=token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def provide_content(slug: FromPath[str], library: NamedDependency[ContentLibrary]) -> Content:
    """Dependency `content`: the questionnaire of the page (404 if unknown)."""
    if slug not in library:
        raise NotFoundException()
    return library.get(slug)


async def patient_response(
    request: Request[Any, Any, Any], db_session: AsyncSession, rate_limits: RateLimitStore, content: Content
) -> tuple[PatientResponse, str]:
    settings: Settings = request.app.state.settings
    token = request.cookies.get(settings.cookies.patient, "")
    response = await response_service.load_by_token(db_session, token)
    if response is None or response.questionnaire_slug != content.slug:
        if token:  # a wrong cookie counts like a wrong link, so cookies cannot be guessed either
            await enforce(rate_limits, BAD_COOKIE_LIMIT, request_ip(request))
        raise NoPatientSession()
    try:  # the cookie lives no longer than the link it came from
        await patient_links.check_access(
            request.app.state.side_engine, response, settings, ip=request_ip(request)
        )
    except patient_links.LinkUnusable as exc:
        raise LinkProblem(exc.reason) from None
    return response, token


async def continuable_response(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    content: Content,
    rate_limits: RateLimitStore | None = None,
) -> PatientResponse | None:
    """The response the browser's cookie names, if it is this questionnaire's and the patient's
    access has not ended. With `rate_limits`, a cookie naming nothing counts like a wrong link."""
    settings: Settings = request.app.state.settings
    cookie = request.cookies.get(settings.cookies.patient)
    response = await response_service.load_by_token(db_session, cookie)
    if response is None:
        if cookie and rate_limits is not None:
            await enforce(rate_limits, BAD_COOKIE_LIMIT, request_ip(request))
        return None
    usable = response.questionnaire_slug == content.slug and (
        patient_links.refusal_reason(response, settings, utcnow()) is None
    )
    return response if usable else None


class PatientVisit(NamedTuple):
    """A patient page's questionnaire, and the patient's own response found by their cookie."""

    content: Content
    response: PatientResponse
    token: str


async def provide_visit(
    request: Request[Any, Any, Any],
    content: NamedDependency[Content],
    db_session: NamedDependency[AsyncSession],
    rate_limits: NamedDependency[RateLimitStore],
) -> PatientVisit:
    """Dependency `visit`: the questionnaire of the page, then the patient's own response and token
    (the no-session page without one)."""
    response, token = await patient_response(request, db_session, rate_limits, content)
    return PatientVisit(use_language(request, content, response.language), response, token)


class StepVisit(NamedTuple):
    """A question step's page: its index (from 0) and the patient's visit."""

    step_index: int
    visit: PatientVisit


async def provide_step_visit(
    request: Request[Any, Any, Any],
    content: NamedDependency[Content],
    number: FromPath[int],
    db_session: NamedDependency[AsyncSession],
    rate_limits: NamedDependency[RateLimitStore],
) -> StepVisit:
    """Dependency `step`: as `visit`, after a 404 for a step number the questionnaire does not have."""
    if not 1 <= number <= question_step_count(content.questionnaire):
        raise NotFoundException()
    return StepVisit(number - 1, await provide_visit(request, content, db_session, rate_limits))


CONTENT = {"content": Provide(provide_content, sync_to_thread=False)}
VISIT = {**CONTENT, "visit": Provide(provide_visit)}
STEP_VISIT = {**CONTENT, "step": Provide(provide_step_visit)}


# ---------------------------------------------------------------------------------------------
# Handlers

# Every patient page: links carry tokens, so never leak them to other sites through the Referer
# header; friendly pages for a missing session or a bad link; not part of the API schema.
PAGE_OPTIONS: dict[str, Any] = {
    "response_headers": [ResponseHeader(name="Referrer-Policy", value="no-referrer")],
    "exception_handlers": {NoPatientSession: _no_session_page, LinkProblem: _link_problem_page},
    "include_in_schema": False,
}
