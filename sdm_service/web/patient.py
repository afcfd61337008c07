"""Patient pages: welcome, invitation and resume links, one step per page, review, summary, PDF.

Everything works without JavaScript. The patient is known only by a random token in an HttpOnly
cookie (the same token is in their resume link); no URL carries a response id, so changing a
URL can never reach someone else's answers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from litestar import Request, get, post
from litestar.datastructures import Cookie, ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.response import Response as HttpResponse
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import Actor, record
from sdm_service.content import Content, ContentLibrary
from sdm_service.content.logic import (
    AnswerError,
    clean_answer,
    enabled_answers,
    enabled_items,
    is_enabled,
    missing_required,
)
from sdm_service.content.schema import IMPORTANCE_SCALE, Item, Questionnaire
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.models import Response, ResponseStatus, utcnow
from sdm_service.ratelimit import Limit, enforce
from sdm_service.security import request_ip
from sdm_service.services import responses as response_service
from sdm_service.services.invitations import InvitationUnusable, find_usable_invitation
from sdm_service.settings import PATIENT_COOKIE as PATIENT_COOKIE  # its name outside production
from sdm_service.settings import Settings
from sdm_service.web.downloads import summary_pdf_download

# Link lookups per client address: enough for real people, far too few to guess a 256-bit token.
BAD_COOKIE_LIMIT = Limit("patient-cookie", 30, 60)
START_LIMIT = Limit("patient-start", 60, 600)  # a clinic waiting room may share one address
CONTROL_FIELDS = frozenset({"_csrf_token", "lock_version", "action"})
STEP_ACTIONS = frozenset({"continue", "back", "save"})
CHOICE_TYPES = frozenset({"single_choice", "importance", "yes_no"})
REQUIRED_MESSAGES = {
    "single_choice": "Choose one answer.",
    "importance": "Choose how important this is to you.",
    "yes_no": "Choose yes or no.",
    "multiple_choice": "Choose at least one answer.",
    "date": "Enter a date.",
    "text": "Write your answer.",
}


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


def _page(template_name: str, context: dict[str, Any], *, status_code: int = 200) -> Template:
    """A patient page: it shows answers or links, so no browser or proxy may keep a copy."""
    return Template(
        template_name=template_name,
        context=context,
        status_code=status_code,
        headers={"Cache-Control": "no-store"},
    )


def _no_session_page(request: Request[Any, Any, Any], exc: NoPatientSession) -> Template:
    return _page(
        "patient/no_session.html",
        {"page_title": "We could not find your answers"},
        status_code=403,
    )


def _link_problem_page(request: Request[Any, Any, Any], exc: LinkProblem) -> Template:
    titles = {
        "unknown": "We do not recognise this link",
        "expired": "This link has expired",
        "revoked": "This link was withdrawn",
    }
    return _page(
        "patient/link_problem.html",
        {"page_title": titles.get(exc.reason, titles["unknown"]), "reason": exc.reason},
        status_code=exc.status_code,
    )


# ---------------------------------------------------------------------------------------------
# Flow shape: which steps hold questions, and where a patient should be


def question_step_count(questionnaire: Questionnaire) -> int:
    """Steps with questions. A last step that is information only is shown on the review page."""
    count = len(questionnaire.steps)
    if count > 1 and not any(item.answerable for item in questionnaire.steps[-1].items):
        return count - 1
    return count


def total_step_count(questionnaire: Questionnaire) -> int:
    return question_step_count(questionnaire) + 1  # the review page is the last step


def review_intro_items(questionnaire: Questionnaire) -> list[Item]:
    if question_step_count(questionnaire) < len(questionnaire.steps):
        return list(questionnaire.steps[-1].items)
    return []


def review_title(questionnaire: Questionnaire) -> str:
    if question_step_count(questionnaire) < len(questionnaire.steps):
        return questionnaire.steps[-1].title
    return "Check your answers"


def base_path(content: Content) -> str:
    return f"/q/{content.slug}"


def step_path(content: Content, number: int) -> str:
    return f"{base_path(content)}/step/{number}"


def place_path(content: Content, response: Response) -> str:
    """Where the patient left off: the summary, the review page or the next step to answer."""
    if response_service.is_done(response):
        return f"{base_path(content)}/summary"
    steps = question_step_count(content.questionnaire)
    if response.current_step >= steps:
        return f"{base_path(content)}/review"
    return step_path(content, response.current_step + 1)


def next_path(content: Content, answers: dict[str, Any], number: int) -> str:
    """The next step with something to show (a step whose questions all do not apply is skipped)."""
    questionnaire = content.questionnaire
    for later in range(number + 1, question_step_count(questionnaire) + 1):
        if enabled_items(questionnaire, answers, later - 1):
            return step_path(content, later)
    return f"{base_path(content)}/review"


def previous_path(content: Content, answers: dict[str, Any], number: int) -> str:
    questionnaire = content.questionnaire
    for earlier in range(number - 1, 0, -1):
        if enabled_items(questionnaire, answers, earlier - 1):
            return step_path(content, earlier)
    return base_path(content)


def resume_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/r/{token}"


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


def _content(library: ContentLibrary, slug: str) -> Content:
    if slug not in library:
        raise NotFoundException()
    return library.get(slug)


async def _patient_response(
    request: Request[Any, Any, Any], db_session: AsyncSession, content: Content
) -> tuple[Response, str]:
    token = request.cookies.get(request.app.state.settings.cookies.patient, "")
    response = await response_service.load_by_token(db_session, token)
    if response is None or response.questionnaire_slug != content.slug:
        if token:  # a wrong cookie counts like a wrong link, so cookies cannot be guessed either
            await enforce(request.app.state.db_engine, BAD_COOKIE_LIMIT, request_ip(request))
        raise NoPatientSession()
    return response, token


class PatientVisit(NamedTuple):
    """A patient page's questionnaire, and the patient's own response found by their cookie."""

    content: Content
    response: Response
    token: str


async def provide_visit(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    library: NamedDependency[ContentLibrary],
    db_session: NamedDependency[AsyncSession],
) -> PatientVisit:
    """Dependency `visit`: the questionnaire of the page (404 if unknown), then the patient's own
    response and token (the no-session page without one)."""
    content = _content(library, slug)
    response, token = await _patient_response(request, db_session, content)
    return PatientVisit(content, response, token)


VISIT = {"visit": Provide(provide_visit)}


# ---------------------------------------------------------------------------------------------
# Showing items


def _stored_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _options(item: Item) -> list[tuple[str, str, str | None]]:
    if item.type == "importance":
        return [(code, label, None) for code, label in IMPORTANCE_SCALE]
    if item.type == "yes_no":
        return [("yes", "Yes", None), ("no", "No", None)]
    return [(option.code, option.label, option.help) for option in item.options]


class ChoiceView(NamedTuple):
    input_id: str
    code: str
    label: str
    help: str | None
    checked: bool


@functools.lru_cache(maxsize=1024)
def _choice_specs(item: Item) -> tuple[tuple[str, str, str, str | None], ...]:
    """An item's options with their input ids: fixed for a loaded questionnaire, so built once."""
    return tuple((f"{item.id}-{code}", code, label, help) for code, label, help in _options(item))


def _field_kind(item: Item) -> str:
    if item.type in CHOICE_TYPES:
        return "radios"
    if item.type == "multiple_choice":
        return "checkboxes"
    return item.type  # date | text | display


@dataclass
class FieldView:
    """One item as the step template draws it. Everything the template needs is worked out here,
    once, so the template only prints (the step page is the patient flow's most-served page)."""

    item: Item
    values: list[str] = field(default_factory=list)
    error: str | None = None
    kind: str = field(init=False)
    choices: list[ChoiceView] = field(init=False)
    described_by: str = field(init=False)  # ids of the hint and the error message, if shown

    def __post_init__(self) -> None:
        self.kind = _field_kind(self.item)
        chosen = set(self.values)
        self.choices = (
            [ChoiceView(*spec, spec[1] in chosen) for spec in _choice_specs(self.item)]
            if self.kind in ("radios", "checkboxes")
            else []
        )
        ids = ([f"{self.item.id}-hint"] if self.item.help else []) + (
            [f"{self.item.id}-error"] if self.error else []
        )
        self.described_by = " ".join(ids)

    @property
    def anchor(self) -> str:
        """Id of the first control, for error-summary links and 'Change' links."""
        return self.choices[0].input_id if self.choices else self.item.id

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def feedback(self) -> tuple[bool, str] | None:
        """For an answered understanding check: (answer was right, the explanation)."""
        if not self.item.correct or not self.item.feedback or not self.values:
            return None
        return (self.values[0] in self.item.correct, self.item.feedback)

    def date_bounds(self, today: date) -> tuple[str, str] | None:
        window = self.item.date_range
        if window is None:
            return None
        from datetime import timedelta

        return (
            (today + timedelta(days=window.min_days)).isoformat(),
            (today + timedelta(days=window.max_days)).isoformat(),
        )


def _format_date(value: str) -> str:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{parsed.strftime('%B')} {parsed.day}, {parsed.year}"


def display_answer(item: Item, value: Any) -> str:
    if value is None or value == [] or value == "":
        return ""
    if item.type == "multiple_choice" and isinstance(value, list):
        return "; ".join(item.option_label(code) for code in value)
    if item.type == "date" and isinstance(value, str):
        return _format_date(value)
    if item.type in CHOICE_TYPES:
        return item.option_label(str(value))
    return str(value)


# ---------------------------------------------------------------------------------------------
# Reading a step's form


@dataclass
class StepForm:
    action: str
    lock_version: int
    raw: dict[str, list[str]]  # what was typed, to show again
    cleaned: dict[str, Any]  # valid answers, canonical form
    errors: dict[str, str]  # item id -> message written for the patient


def _bad_form(reason: str) -> HTTPException:
    return HTTPException(status_code=400, detail=reason)


async def read_step_form(
    request: Request[Any, Any, Any], questionnaire: Questionnaire, step_index: int, today: date
) -> StepForm:
    """Parse and check one step's form. Anything a real page could not have sent is a 400."""
    form = await request.form()
    items = {item.id: item for item in questionnaire.steps[step_index].items if item.answerable}
    names = set(form.keys())
    unknown = names - CONTROL_FIELDS - set(items)
    if unknown:
        raise _bad_form("unknown form fields")
    action = form.get("action") or "continue"
    lock_values = form.getall("lock_version") if "lock_version" in names else []
    if action not in STEP_ACTIONS or len(lock_values) != 1 or len(form.getall("action", [])) > 1:
        raise _bad_form("bad control fields")
    try:
        lock_version = int(lock_values[0])
    except (TypeError, ValueError):
        raise _bad_form("bad lock version") from None
    raw: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item_id, item in items.items():
        values = [v for v in form.getall(item_id) if isinstance(v, str)] if item_id in names else []
        if item_id in names and len(values) != len(form.getall(item_id)):
            raise _bad_form("file upload where text was expected")
        raw[item_id] = values
        if item.type in CHOICE_TYPES or item.type == "multiple_choice":
            if item.type in CHOICE_TYPES and len(values) > 1:
                raise _bad_form("more than one value for a single choice")
            if not values:
                continue
            try:
                cleaned[item_id] = clean_answer(
                    item, values if item.type == "multiple_choice" else values[0], today=today
                )
            except AnswerError:
                raise _bad_form("a choice that was not offered") from None
            continue
        if len(values) > 1:
            raise _bad_form("more than one value for one field")
        text = values[0] if values else ""
        if not text.strip():
            continue
        try:
            cleaned[item_id] = clean_answer(item, text, today=today)
        except AnswerError as exc:
            errors[item_id] = str(exc)
    return StepForm(action=action, lock_version=lock_version, raw=raw, cleaned=cleaned, errors=errors)


# ---------------------------------------------------------------------------------------------
# Page rendering


def _step_template(
    content: Content,
    settings: Settings,
    token: str,
    step_index: int,
    fields: list[FieldView],
    *,
    lock_version: int,
    status_code: int = 200,
    notice: str | None = None,
    conflict: bool = False,
) -> Template:
    questionnaire = content.questionnaire
    step = questionnaire.steps[step_index]
    number = step_index + 1
    total = total_step_count(questionnaire)
    errors = [f for f in fields if f.error]
    title = f"Step {number} of {total}: {step.title}"
    if errors:
        title = f"Error: {title}"
    return _page(
        "patient/step.html",
        {
            "page_title": title,
            "step": step,
            "step_number": number,
            "total_steps": total,
            "fields": fields,
            "error_links": [(f"#{f.anchor}", f.item.text, f.error) for f in errors],
            "lock_version": lock_version,
            "form_action": step_path(content, number),
            "back_is_start": number == 1,
            "notice": notice,
            "conflict": conflict,
            "reload_path": step_path(content, number),
            "resume_url": resume_url(settings, token),
            "today": utcnow().date(),
            "slug": content.slug,
        },
        status_code=status_code,
    )


def _fields_from_answers(items: list[Item], answers: dict[str, Any]) -> list[FieldView]:
    return [FieldView(item=item, values=_stored_values(answers.get(item.id))) for item in items]


def _fields_from_form(items: list[Item], step_form: StepForm) -> list[FieldView]:
    return [
        FieldView(item=item, values=step_form.raw.get(item.id, []), error=step_form.errors.get(item.id))
        for item in items
    ]


@dataclass
class ReviewStep:
    number: int
    title: str
    rows: list[tuple[Item, str, str]]  # item, answer shown, change link


def review_steps(content: Content, answers: dict[str, Any]) -> list[ReviewStep]:
    questionnaire = content.questionnaire
    kept = enabled_answers(questionnaire, answers)
    steps = []
    for index in range(question_step_count(questionnaire)):
        rows = []
        for item in enabled_items(questionnaire, kept, index):
            if not item.answerable:
                continue
            anchor = FieldView(item=item).anchor
            rows.append(
                (item, display_answer(item, kept.get(item.id)), f"{step_path(content, index + 1)}#{anchor}")
            )
        if rows:
            steps.append(ReviewStep(index + 1, questionnaire.steps[index].title, rows))
    return steps


def _review_template(
    content: Content,
    settings: Settings,
    token: str,
    response: Response,
    *,
    missing: list[str] | None = None,
    status_code: int = 200,
    notice: str | None = None,
) -> Template:
    questionnaire = content.questionnaire
    total = total_step_count(questionnaire)
    errors = []
    for item_id in missing or []:
        item = questionnaire.item(item_id)
        number = questionnaire.step_of(item_id) + 1
        link = f"{step_path(content, number)}#{FieldView(item=item).anchor}"
        errors.append((link, item.text, REQUIRED_MESSAGES.get(item.type, "Answer this question.")))
    title = f"Step {total} of {total}: {review_title(questionnaire)}"
    return _page(
        "patient/review.html",
        {
            "page_title": f"Error: {title}" if errors else title,
            "title": review_title(questionnaire),
            "intro_items": review_intro_items(questionnaire),
            "step_number": total,
            "total_steps": total,
            "steps": review_steps(content, response.answers),
            "error_links": errors,
            "lock_version": response.lock_version,
            "submit_path": f"{base_path(content)}/submit",
            "back_path": previous_path(content, response.answers, question_step_count(questionnaire) + 1),
            "resume_url": resume_url(settings, token),
            "notice": notice,
            "slug": content.slug,
        },
        status_code=status_code,
    )


# ---------------------------------------------------------------------------------------------
# Handlers

# Every patient page: links carry tokens, so never leak them to other sites through the Referer
# header; friendly pages for a missing session or a bad link; not part of the API schema.
PAGE_OPTIONS: dict[str, Any] = {
    "response_headers": [ResponseHeader(name="Referrer-Policy", value="no-referrer")],
    "exception_handlers": {NoPatientSession: _no_session_page, LinkProblem: _link_problem_page},
    "include_in_schema": False,
}


@get("/q/{slug:str}", **PAGE_OPTIONS, name="patient-welcome")
async def welcome(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    library: NamedDependency[ContentLibrary],
    db_session: NamedDependency[AsyncSession],
) -> Template:
    """The start page. A GET never creates anything; Start is a form POST."""
    content = _content(library, slug)
    existing = await response_service.load_by_token(
        db_session, request.cookies.get(request.app.state.settings.cookies.patient)
    )
    if existing is not None and existing.questionnaire_slug != content.slug:
        existing = None
    questionnaire = content.questionnaire
    return _page(
        "patient/welcome.html",
        {
            "page_title": questionnaire.title,
            "questionnaire": questionnaire,
            "question_steps": question_step_count(questionnaire),
            "start_path": f"{base_path(content)}/start",
            "continue_path": place_path(content, existing) if existing else None,
            "existing_done": bool(existing and response_service.is_done(existing)),
        },
    )


@post("/q/{slug:str}/start", **PAGE_OPTIONS, name="patient-start", status_code=303)
async def start(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    library: NamedDependency[ContentLibrary],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Redirect:
    content = _content(library, slug)
    await enforce(request.app.state.db_engine, START_LIMIT, request_ip(request))
    _response, token = await response_service.start_response(db_session, content, source="web")
    return Redirect(step_path(content, 1), status_code=303, cookies=[patient_cookie(settings, token)])


@get("/i/{token:str}", **PAGE_OPTIONS, name="patient-invitation")
async def invitation_link(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    library: NamedDependency[ContentLibrary],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Redirect:
    try:
        invitation = await find_usable_invitation(db_session, token)
    except InvitationUnusable as exc:
        raise LinkProblem(exc.reason) from None
    if invitation.questionnaire_slug not in library:
        raise LinkProblem("unknown")
    content = library.get(invitation.questionnaire_slug)
    try:
        response, cookie_token = await response_service.open_invitation(
            db_session, invitation, link_token=token
        )
    except LookupError:
        raise LinkProblem("unknown") from None
    await record(
        db_session,
        Actor("patient", str(response.id)),
        "invitation.opened",
        entity_type="response",
        entity_id=str(response.id),
        ip=request_ip(request),
    )
    return Redirect(
        place_path(content, response), status_code=303, cookies=[patient_cookie(settings, cookie_token)]
    )


@get("/r/{token:str}", **PAGE_OPTIONS, name="patient-resume")
async def resume_link(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    library: NamedDependency[ContentLibrary],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Redirect:
    response = await response_service.load_by_token(db_session, token)
    if response is None or response.questionnaire_slug not in library:
        raise LinkProblem("unknown")
    if response.status == ResponseStatus.INVITED:  # an invitation link used as a resume link
        invitation = await find_usable_invitation(db_session, token)
        response, token = await response_service.open_invitation(db_session, invitation, link_token=token)
    content = library.get(response.questionnaire_slug)
    return Redirect(place_path(content, response), status_code=303, cookies=[patient_cookie(settings, token)])


def _step_index(content: Content, number: int) -> int:
    if not 1 <= number <= question_step_count(content.questionnaire):
        raise NotFoundException()
    return number - 1


@get("/q/{slug:str}/step/{number:int}", **PAGE_OPTIONS, name="patient-step")
async def show_step(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    number: FromPath[int],
    library: NamedDependency[ContentLibrary],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
    notice: FromQuery[str | None] = None,
) -> Template | Redirect:
    content = _content(library, slug)
    step_index = _step_index(content, number)
    response, token = await _patient_response(request, db_session, content)
    if response_service.is_done(response) or step_index > response.current_step:
        return Redirect(place_path(content, response), status_code=303)
    questionnaire = content.questionnaire
    answers = enabled_answers(questionnaire, response.answers)
    items = enabled_items(questionnaire, answers, step_index)
    if not items:  # nothing on this step applies to this patient
        return Redirect(next_path(content, answers, number), status_code=303)
    fields = _fields_from_answers(items, answers)
    notices = {
        "added": "Based on your answer, we added a question on this page. Please look it over.",
        "checked": "Thank you. The answer to the quick check is below. Choose Continue when you are ready.",
    }
    return _step_template(
        content,
        settings,
        token,
        step_index,
        fields,
        lock_version=response.lock_version,
        notice=notices.get(notice or ""),
    )


@post("/q/{slug:str}/step/{number:int}", **PAGE_OPTIONS, name="patient-step-save", status_code=303)
async def save_step(
    request: Request[Any, Any, Any],
    slug: FromPath[str],
    number: FromPath[int],
    library: NamedDependency[ContentLibrary],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Template | Redirect:
    content = _content(library, slug)
    questionnaire = content.questionnaire
    step_index = _step_index(content, number)
    response, token = await _patient_response(request, db_session, content)
    today = utcnow().date()
    step_form = await read_step_form(request, questionnaire, step_index, today)
    if response_service.is_done(response):
        return Redirect(f"{base_path(content)}/summary", query_params={"notice": "sent"}, status_code=303)
    if step_index > response.current_step:  # not reached yet: no skipping ahead by posting either
        return Redirect(place_path(content, response), status_code=303)

    stored = enabled_answers(questionnaire, response.answers)
    shown = enabled_items(questionnaire, stored, step_index)
    if step_form.lock_version != response.lock_version:
        return _conflict_page(content, settings, token, step_index, response, step_form)

    # What the step looks like with the new answers: follow-ups on the same page may come or go.
    merged = {k: v for k, v in stored.items() if k not in step_form.raw}
    merged.update(step_form.cleaned)
    after = enabled_answers(questionnaire, merged)
    now_enabled = enabled_items(questionnaire, after, step_index)
    if step_form.errors:
        return _step_template(
            content,
            settings,
            token,
            step_index,
            _fields_from_form(_union(questionnaire.steps[step_index].items, shown, now_enabled), step_form),
            lock_version=response.lock_version,
            status_code=422,
        )
    shown_ids = {item.id for item in shown}
    added = [item for item in now_enabled if item.answerable and item.id not in shown_ids]
    if step_form.action == "continue" and not added:
        missing = missing_required(questionnaire, after, [step_index])
        if missing:
            for item_id in missing:
                step_form.errors[item_id] = REQUIRED_MESSAGES[questionnaire.item(item_id).type]
            return _step_template(
                content,
                settings,
                token,
                step_index,
                _fields_from_form(now_enabled, step_form),
                lock_version=response.lock_version,
                status_code=422,
            )
    checks_changed = any(
        item.correct
        and step_form.cleaned.get(item.id) != stored.get(item.id)
        and item.id in step_form.cleaned
        for item in now_enabled
    )
    try:
        await response_service.save_step(
            db_session,
            response,
            content,
            step_index,
            step_form.cleaned,
            expected_lock_version=step_form.lock_version,
            advance=step_form.action == "continue" and not added,
        )
    except response_service.ResponseConflict:
        await db_session.rollback()  # the failed flush leaves the session needing a rollback
        await db_session.refresh(response)
        return _conflict_page(content, settings, token, step_index, response, step_form)

    if step_form.action == "save":
        return Redirect(f"{base_path(content)}/saved", status_code=303)
    if step_form.action == "back":
        return Redirect(previous_path(content, response.answers, number), status_code=303)
    if added:
        return Redirect(step_path(content, number), query_params={"notice": "added"}, status_code=303)
    if checks_changed:
        return Redirect(step_path(content, number), query_params={"notice": "checked"}, status_code=303)
    return Redirect(next_path(content, response.answers, number), status_code=303)


def _union(step_items: tuple[Item, ...], *lists: list[Item]) -> list[Item]:
    """Items in any of the lists, in the step's own order."""
    ids = {item.id for items in lists for item in items}
    return [item for item in step_items if item.id in ids]


def _conflict_page(
    content: Content,
    settings: Settings,
    token: str,
    step_index: int,
    response: Response,
    step_form: StepForm,
) -> Template:
    """Changed elsewhere meanwhile: keep what they typed (unsaved) and let them choose."""
    questionnaire = content.questionnaire
    current = enabled_answers(questionnaire, response.answers)
    items = [item for item in questionnaire.steps[step_index].items if is_enabled(item, current)]
    step_form.errors = {}
    return _step_template(
        content,
        settings,
        token,
        step_index,
        _fields_from_form(items, step_form),
        lock_version=response.lock_version,
        status_code=409,
        conflict=True,
    )


@get("/q/{slug:str}/saved", **PAGE_OPTIONS, dependencies=VISIT, name="patient-saved")
async def saved(visit: NamedDependency[PatientVisit], settings: NamedDependency[Settings]) -> Template:
    content, response, token = visit
    return _page(
        "patient/saved.html",
        {
            "page_title": "Your answers are saved",
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
    return _review_template(content, settings, token, response)


@post("/q/{slug:str}/submit", **PAGE_OPTIONS, dependencies=VISIT, name="patient-submit", status_code=303)
async def submit(
    request: Request[Any, Any, Any],
    visit: NamedDependency[PatientVisit],
    settings: NamedDependency[Settings],
    db_session: NamedDependency[AsyncSession],
) -> Template | Redirect:
    content, response, token = visit
    form = await request.form()
    if set(form.keys()) - {"_csrf_token", "lock_version"}:
        raise _bad_form("unknown form fields")
    summary_path = f"{base_path(content)}/summary"
    if response_service.is_done(response):  # a second click on Send: nothing to do again
        return Redirect(summary_path, status_code=303)
    try:
        lock_version = int(form.get("lock_version") or "")
    except ValueError:
        raise _bad_form("bad lock version") from None
    changed = "Your answers were changed in another window. Please check them again, then send."
    if lock_version != response.lock_version:
        return _review_template(content, settings, token, response, status_code=409, notice=changed)
    try:
        await response_service.complete_response(db_session, response, content, settings)
    except response_service.ResponseIncomplete as exc:
        return _review_template(content, settings, token, response, missing=exc.missing, status_code=422)
    except response_service.ResponseConflict:
        await db_session.rollback()
        await db_session.refresh(response)
        if response_service.is_done(response):
            return Redirect(summary_path, status_code=303)
        return _review_template(content, settings, token, response, status_code=409, notice=changed)
    await record(
        db_session,
        Actor("patient", str(response.id)),
        "response.completed",
        entity_type="response",
        entity_id=str(response.id),
        ip=request_ip(request),
    )
    return Redirect(summary_path, status_code=303)


def _snapshot(response: Response) -> SummarySnapshot:
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
    snapshot = _snapshot(response)
    return _page(
        "patient/summary.html",
        {
            "page_title": "Your summary",
            "s": snapshot,
            "pdf_path": f"{base_path(content)}/summary.pdf",
            "resume_url": resume_url(settings, token),
            "already_sent": notice == "sent",
            "completed_on": _format_date(snapshot.completed_at[:10]),
            "consult_on": _format_date(snapshot.consult_date) if snapshot.consult_date else None,
        },
    )


@get("/q/{slug:str}/summary.pdf", **PAGE_OPTIONS, dependencies=VISIT, name="patient-summary-pdf")
async def summary_pdf(visit: NamedDependency[PatientVisit]) -> HttpResponse[bytes]:
    if not response_service.is_done(visit.response) or visit.response.summary is None:
        raise NotFoundException()
    return await summary_pdf_download(_snapshot(visit.response))


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
