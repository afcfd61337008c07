"""Patient page handlers: each parses the request, calls the responses service and renders."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.response import Response as HttpResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.audit import record_patient_event
from sdm_service.content import Content, ContentLibrary
from sdm_service.content.logic import (
    enabled_answers,
    enabled_items,
)
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.delivery.dispatch import completion_background
from sdm_service.delivery.queue import DeliveryQueue
from sdm_service.i18n import N_
from sdm_service.middleware import request_ip
from sdm_service.models import PatientResponse, utcnow
from sdm_service.ratelimit import RateLimitStore, enforce
from sdm_service.services import patient_links
from sdm_service.services import responses as response_service
from sdm_service.settings import Settings
from sdm_service.web.downloads import summary_pdf_download
from sdm_service.web.patient.flow import (
    base_path,
    next_path,
    place_path,
    previous_path,
    question_step_count,
    resume_url,
    step_path,
)
from sdm_service.web.patient.forms import bad_form, read_step_form
from sdm_service.web.patient.language import use_language, wished_language
from sdm_service.web.patient.views import (
    REQUIRED_MESSAGES,
    fields_from_answers,
    fields_from_form,
    review_page,
    step_page,
)
from sdm_service.web.patient.visit import (
    CONTENT,
    PAGE_OPTIONS,
    START_LIMIT,
    STEP_VISIT,
    VISIT,
    LinkProblem,
    PatientVisit,
    StepVisit,
    continuable_response,
    page,
    patient_cookie,
)


# ---------------------------------------------------------------------------------------------
@get("/q/{slug:str}", **PAGE_OPTIONS, dependencies=CONTENT, name="patient-welcome")
async def welcome(
    request: Request[Any, Any, Any],
    content: NamedDependency[Content],
    db_session: NamedDependency[AsyncSession],
    rate_limits: NamedDependency[RateLimitStore],
    lang: FromQuery[str | None] = None,
) -> Template:
    """The start page. A GET never creates anything; Start is a form POST. It tells whether the
    cookie holds a working link, so a wrong cookie counts like a wrong link (a working one never)."""
    existing = await continuable_response(request, db_session, content, rate_limits)
    language = existing.language if existing else wished_language(request, content, lang)
    content = use_language(request, content, language)
    questionnaire = content.questionnaire
    return page(
        "patient/welcome.html",
        {
            "page_title": questionnaire.title,
            "questionnaire": questionnaire,
            "question_steps": question_step_count(questionnaire),
            "start_path": f"{base_path(content)}/start",
            "continue_path": place_path(content, existing) if existing else None,
            "existing_done": bool(existing and response_service.is_done(existing)),
            "language": content.language,
        },
    )


@post("/q/{slug:str}/start", **PAGE_OPTIONS, dependencies=CONTENT, name="patient-start", status_code=303)
async def start(
    request: Request[Any, Any, Any],
    content: NamedDependency[Content],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
    rate_limits: NamedDependency[RateLimitStore],
) -> Redirect:
    await enforce(rate_limits, START_LIMIT, request_ip(request))
    asked = (await request.form()).get("language")  # the welcome page's language
    language = wished_language(request, content, asked if isinstance(asked, str) else None)
    _response, token = await response_service.start_response(
        db_session, content, source="web", language=language
    )
    return Redirect(step_path(content, 1), status_code=303, cookies=[patient_cookie(settings, token)])


# Opens a patient link with a service function (invitation or resume) and answers with the redirect.
LinkOpener = Callable[[Any, str], Awaitable[Redirect]]


def _provide_link_opener(
    request: Request[Any, Any, Any],
    library: NamedDependency[ContentLibrary],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
    side_engine: NamedDependency[AsyncEngine],
) -> LinkOpener:
    """Both link kinds open the same way: through the service, then to the patient's place with a
    fresh cookie."""

    async def open_link(open_with: Any, token: str) -> Redirect:
        try:
            link = patient_links.LinkRequest(db_session, side_engine, settings, library, request_ip(request))
            response, cookie_token = await open_with(link, token)
        except patient_links.LinkUnusable as exc:
            raise LinkProblem(exc.reason) from None
        content = library.get(response.questionnaire_slug)
        cookie = patient_cookie(settings, cookie_token)
        return Redirect(place_path(content, response), status_code=303, cookies=[cookie])

    return open_link


LINK_OPENER = {"open_link": Provide(_provide_link_opener, sync_to_thread=False)}


@get("/i/{token:str}", **PAGE_OPTIONS, dependencies=LINK_OPENER, name="patient-invitation")
async def invitation_link(token: FromPath[str], open_link: NamedDependency[LinkOpener]) -> Redirect:
    return await open_link(patient_links.open_invitation_link, token)


@get("/r/{token:str}", **PAGE_OPTIONS, dependencies=LINK_OPENER, name="patient-resume")
async def resume_link(token: FromPath[str], open_link: NamedDependency[LinkOpener]) -> Redirect:
    return await open_link(patient_links.open_resume_link, token)


@get("/q/{slug:str}/step/{number:int}", **PAGE_OPTIONS, dependencies=STEP_VISIT, name="patient-step")
async def show_step(
    number: FromPath[int],
    step: NamedDependency[StepVisit],
    settings: NamedDependency[Settings],
    notice: FromQuery[str | None] = None,
) -> Template | Redirect:
    step_index, (content, response, _token) = step
    if response_service.is_done(response) or step_index > response.current_step:
        return Redirect(place_path(content, response), status_code=303)
    questionnaire = content.questionnaire
    answers = enabled_answers(questionnaire, response.answers)
    items = enabled_items(questionnaire, answers, step_index)
    if not items:  # nothing on this step applies to this patient
        return Redirect(next_path(content, answers, number), status_code=303)
    fields = fields_from_answers(items, answers)
    notices = {
        "added": N_("Based on your answer, we added a question on this page. Please look it over."),
        "checked": N_(
            "Thank you. The answer to the quick check is below. Choose Continue when you are ready."
        ),
    }
    return step_page(step, settings, fields, notice=notices.get(notice or ""))


@post(
    "/q/{slug:str}/step/{number:int}",
    **PAGE_OPTIONS,
    dependencies=STEP_VISIT,
    name="patient-step-save",
    status_code=303,
)
async def save_step(
    request: Request[Any, Any, Any],
    number: FromPath[int],
    step: NamedDependency[StepVisit],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Template | Redirect:
    step_index, (content, response, _token) = step
    questionnaire = content.questionnaire
    today = utcnow().date()
    step_form = await read_step_form(request, questionnaire, step_index, today)
    if response_service.is_done(response):
        return Redirect(f"{base_path(content)}/summary", query_params={"notice": "sent"}, status_code=303)
    if step_index > response.current_step:  # not reached yet: no skipping ahead by posting either
        return Redirect(place_path(content, response), status_code=303)

    outcome = await response_service.answer_step(
        db_session,
        response,
        content,
        step_index,
        step_form.cleaned,
        submitted=set(step_form.raw),
        invalid=bool(step_form.errors),
        lock_version=step_form.lock_version,
        advance=step_form.action == "continue",
    )
    if isinstance(outcome, response_service.StepConflict):
        step_form.errors = {}  # changed elsewhere meanwhile: keep what they typed (unsaved), let them choose
        fields = fields_from_form(outcome.items, step_form)
        return step_page(step, settings, fields, status_code=409, conflict=True)
    if isinstance(outcome, response_service.StepNotSaved):
        for item_id in outcome.missing:
            step_form.errors[item_id] = REQUIRED_MESSAGES[questionnaire.item(item_id).type]
        fields = fields_from_form(outcome.items, step_form)
        return step_page(step, settings, fields, status_code=422)
    if step_form.action == "save":
        return Redirect(f"{base_path(content)}/saved", status_code=303)
    if step_form.action == "back":
        return Redirect(previous_path(content, response.answers, number), status_code=303)
    if outcome.added:
        return Redirect(step_path(content, number), query_params={"notice": "added"}, status_code=303)
    if outcome.checks_changed:
        return Redirect(step_path(content, number), query_params={"notice": "checked"}, status_code=303)
    return Redirect(next_path(content, response.answers, number), status_code=303)


@get("/q/{slug:str}/saved", **PAGE_OPTIONS, dependencies=VISIT, name="patient-saved")
async def saved(visit: NamedDependency[PatientVisit], settings: NamedDependency[Settings]) -> Template:
    content, response, token = visit
    return page(
        "patient/saved.html",
        {
            "page_title": N_("Your answers are saved"),
            "resume_url": resume_url(settings, token),
            "continue_path": place_path(content, response),
        },
    )


@get("/q/{slug:str}/review", **PAGE_OPTIONS, dependencies=VISIT, name="patient-review")
async def review(
    visit: NamedDependency[PatientVisit], settings: NamedDependency[Settings]
) -> Template | Redirect:
    content, response, token = visit
    if response_service.is_done(response) or response.current_step < question_step_count(
        content.questionnaire
    ):
        return Redirect(place_path(content, response), status_code=303)
    return review_page(content, settings, token, response)


@post("/q/{slug:str}/submit", **PAGE_OPTIONS, dependencies=VISIT, name="patient-submit", status_code=303)
async def submit(
    request: Request[Any, Any, Any],
    visit: NamedDependency[PatientVisit],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
    delivery_queue: NamedDependency[DeliveryQueue | None],
) -> Template | Redirect:
    content, response, token = visit
    form = await request.form()
    if set(form.keys()) - {"_csrf_token", "lock_version"}:
        raise bad_form("unknown form fields")
    summary_path = f"{base_path(content)}/summary"
    if response_service.is_done(response):  # a second click on Send: nothing to do again
        return Redirect(summary_path, status_code=303)
    try:
        lock_version = int(form.get("lock_version") or "")
    except ValueError:
        raise bad_form("bad lock version") from None
    changed = N_("Your answers were changed in another window. Please check them again, then send.")
    if lock_version != response.lock_version:
        return review_page(content, settings, token, response, status_code=409, notice=changed)
    try:
        await response_service.complete_response(db_session, response, content, settings)
    except response_service.ResponseIncomplete as exc:
        return review_page(content, settings, token, response, missing=exc.missing, status_code=422)
    except response_service.ResponseConflict:
        await db_session.rollback()
        await db_session.refresh(response)
        if response_service.is_done(response):
            return Redirect(summary_path, status_code=303)
        return review_page(content, settings, token, response, status_code=409, notice=changed)
    await record_patient_event(db_session, response.id, "response.completed", ip=request_ip(request))
    after = completion_background(db_session, delivery_queue, response)
    return Redirect(summary_path, status_code=303, background=after)


def _snapshot(response: PatientResponse) -> SummarySnapshot:
    return SummarySnapshot.model_validate(response.summary)


@get("/q/{slug:str}/summary", **PAGE_OPTIONS, dependencies=VISIT, name="patient-summary")
async def summary(
    visit: NamedDependency[PatientVisit],
    settings: NamedDependency[Settings],
    notice: FromQuery[str | None] = None,
) -> Template | Redirect:
    content, response, token = visit
    if not response_service.is_done(response) or response.summary is None:
        return Redirect(place_path(content, response), status_code=303)
    snapshot = _snapshot(response).in_language(response.language)
    return page(
        "patient/summary.html",
        {
            "page_title": N_("Your summary"),
            "s": snapshot,
            "pdf_path": f"{base_path(content)}/summary.pdf",
            "resume_url": resume_url(settings, token),
            "already_sent": notice == "sent",
            "completed_on": snapshot.completed_at[:10],
            "consult_on": snapshot.consult_date,
        },
    )


@get("/q/{slug:str}/summary.pdf", **PAGE_OPTIONS, dependencies=VISIT, name="patient-summary-pdf")
async def summary_pdf(
    visit: NamedDependency[PatientVisit], db_session: NamedDependency[AsyncSession]
) -> HttpResponse[bytes]:
    if not response_service.is_done(visit.response) or visit.response.summary is None:
        raise NotFoundException()
    return await summary_pdf_download(db_session, visit.response)


routes: list[Any] = [
    welcome,
    start,
    invitation_link,
    resume_link,
    show_step,
    save_step,
    saved,
    review,
    submit,
    summary,
    summary_pdf,
]
