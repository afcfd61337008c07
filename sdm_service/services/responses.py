"""Patient responses: start, open from an invitation, find by link, save a step, complete.

Shared by the patient web pages and the JSON API. The raw resume token exists only in the
patient's link and cookie; the database keeps its SHA-256. An invitation's own link also
keeps working as a resume link until it expires or is revoked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import col

from sdm_service.content import Content
from sdm_service.content.logic import enabled_answers, enabled_items, is_enabled, missing_required
from sdm_service.content.schema import Item, Questionnaire
from sdm_service.delivery.outbox import record_pending
from sdm_service.models import Invitation, PatientResponse, ResponseStatus, utcnow
from sdm_service.observability import counters
from sdm_service.security import hash_token, new_token
from sdm_service.services import task_status
from sdm_service.settings import Settings
from sdm_service.warmup import insert_versions_ignoring_duplicates, version_row

MAX_TOKEN_LENGTH = 200
OPEN_STATUSES = (ResponseStatus.INVITED, ResponseStatus.IN_PROGRESS)
DONE_STATUSES = (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED)


class ResponseConflict(Exception):
    """The response changed since the caller read it (another tab, another device)."""


class ResponseClosed(Exception):
    """The response is completed; its answers can no longer change."""


class ResponseIncomplete(Exception):
    """Required questions that apply have no answer yet. `missing` lists their item ids."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__("missing answers: " + ", ".join(missing))


@dataclass(frozen=True)
class StepSaved:
    """The step's answers are stored. `added`: an answer brought a new question onto this step (so
    the patient stays on it); `checks_changed`: an understanding check got a new answer (so the
    patient sees its explanation before going on)."""

    added: bool
    checks_changed: bool


@dataclass(frozen=True)
class StepNotSaved:
    """Nothing stored: the form had errors, or `missing` lists required questions left empty.
    `items` are the step's questions to show again, as the new answers make them."""

    items: list[Item]
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StepConflict:
    """The response changed elsewhere meanwhile; nothing stored. `items`: the step as it is now."""

    items: list[Item]


StepOutcome = StepSaved | StepNotSaved | StepConflict


def is_done(response: PatientResponse) -> bool:
    return response.status in DONE_STATUSES


def new_response(
    content: Content, *, status: str, source: str, now: datetime, **fields: Any
) -> PatientResponse:
    """A response to `content`, pinned to its version, created `now` (not yet in the session)."""
    return PatientResponse(
        questionnaire_slug=content.slug,
        questionnaire_version=content.version,
        status=status,
        source=source,
        created_at=now,
        updated_at=now,
        **fields,
    )


async def start_response(
    session: AsyncSession, content: Content, *, source: str = "web", language: str | None = None
) -> tuple[PatientResponse, str]:
    """A new in-progress response and its raw resume token (shown to the patient, never stored),
    in the content's language nearest to `language`."""
    token = new_token()
    now = utcnow()
    response = new_response(
        content,
        status=ResponseStatus.IN_PROGRESS,
        source=source,
        now=now,
        language=content.choose_language(language),
        resume_token_hash=hash_token(token),
    )
    session.add(response)
    await session.flush()
    counters.QUESTIONNAIRE_STARTS.labels(source).inc()
    return response, token


async def set_language(session: AsyncSession, response: PatientResponse, language: str) -> None:
    """The patient chose another language: later pages (and a summary not yet made) use it."""
    if response.language != language:
        response.language = language
        session.add(response)
        await session.flush()


async def open_invitation(
    session: AsyncSession, invitation: Invitation, *, link_token: str = ""
) -> tuple[PatientResponse, str]:
    """Open the response behind a usable invitation and return it with a token for the patient.

    The first opening creates the resume token. Later openings keep it (a link saved earlier must
    go on working) and hand back the invitation's own token (`link_token`), which load_by_token
    accepts while the invitation is usable. Without a link_token a fresh resume token is issued.
    """
    response = await session.get(PatientResponse, invitation.response_id) if invitation.response_id else None
    if response is None:
        raise LookupError("This invitation has no response.")
    token = link_token
    if response.resume_token_hash is None or not link_token:
        token = new_token()
        response.resume_token_hash = hash_token(token)
    if response.status == ResponseStatus.INVITED:
        response.status = ResponseStatus.IN_PROGRESS
        response.updated_at = utcnow()
    session.add(response)
    await session.flush()
    return response, token


# Built once: every patient page and step save looks its response up by the cookie's token.
_RESPONSE_BY_TOKEN_HASH = select(PatientResponse).where(
    col(PatientResponse.resume_token_hash) == bindparam("digest")
)
_INVITATION_BY_TOKEN_HASH = select(Invitation).where(col(Invitation.token_hash) == bindparam("digest"))


async def load_by_token(session: AsyncSession, token: str | None) -> PatientResponse | None:
    """The response a resume token (or a still-usable invitation token) belongs to, else None."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = {"digest": hash_token(token)}
    response = (await session.execute(_RESPONSE_BY_TOKEN_HASH, digest)).scalar_one_or_none()
    if response is not None:
        return response
    invitation = (await session.execute(_INVITATION_BY_TOKEN_HASH, digest)).scalar_one_or_none()
    if (
        invitation is None
        or invitation.response_id is None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        return None
    return await session.get(PatientResponse, invitation.response_id)


async def save_step(
    session: AsyncSession,
    response: PatientResponse,
    content: Content,
    step_index: int,
    cleaned_answers: Mapping[str, Any],
    *,
    expected_lock_version: int,
    advance: bool = True,
) -> PatientResponse:
    """Replace one step's answers with `cleaned_answers` (already checked with clean_answer).

    Items of the step missing from `cleaned_answers` are cleared. Answers anywhere that no longer
    apply after the change are dropped, so the stored answers always match what the patient sees.
    With advance=False (going back, saving to finish later) the step does not count as done;
    otherwise `current_step` moves to the next step that has something to show.
    """
    questionnaire = content.questionnaire
    if is_done(response):
        raise ResponseClosed("This response is completed and can no longer change.")
    if response.lock_version != expected_lock_version:
        raise ResponseConflict("The response changed since it was read.")
    if not 0 <= step_index < len(questionnaire.steps):
        raise ValueError(f"There is no step {step_index}.")
    step_ids = {item.id for item in questionnaire.steps[step_index].items if item.answerable}
    foreign = set(cleaned_answers) - step_ids
    if foreign:
        raise ValueError(f"Not items of step {step_index}: {', '.join(sorted(foreign))}")
    merged = {key: value for key, value in response.answers.items() if key not in step_ids}
    merged.update(cleaned_answers)
    response.answers = enabled_answers(questionnaire, merged)  # a new dict, so the change is seen
    reached = step_index + 1 if advance else step_index
    # Steps where nothing applies (e.g. follow-ups to priorities rated low) are passed over.
    while (
        advance
        and reached < len(questionnaire.steps)
        and not enabled_items(questionnaire, response.answers, reached)
    ):
        reached += 1
    response.current_step = max(response.current_step, min(reached, len(questionnaire.steps)))
    if response.status == ResponseStatus.INVITED:
        response.status = ResponseStatus.IN_PROGRESS
    response.updated_at = utcnow()
    session.add(response)
    try:
        await session.flush()
    except StaleDataError as exc:  # another writer won the race between our read and this write
        raise ResponseConflict("The response changed while saving.") from exc
    if response.invitation_id is not None:  # only invited responses can have a Task
        await task_status.response_started(session, response.id, now=response.updated_at)
    return response


def _items_now(questionnaire: Questionnaire, response: PatientResponse, step_index: int) -> list[Item]:
    current = enabled_answers(questionnaire, response.answers)
    return [item for item in questionnaire.steps[step_index].items if is_enabled(item, current)]


def _in_step_order(step_items: tuple[Item, ...], *lists: list[Item]) -> list[Item]:
    """Items in any of the lists, in the step's own order."""
    ids = {item.id for items in lists for item in items}
    return [item for item in step_items if item.id in ids]


async def answer_step(
    session: AsyncSession,
    response: PatientResponse,
    content: Content,
    step_index: int,
    cleaned_answers: Mapping[str, Any],
    *,
    submitted: set[str],
    invalid: bool,
    lock_version: int,
    advance: bool,
) -> StepOutcome:
    """One step's form, already parsed: decide and, when it may, store (see save_step).

    `submitted` are the step's items the form carried (their stored answers are replaced),
    `invalid` says the form had answers that could not be read. Follow-up questions on the same
    step may come or go with the new answers; when one comes, the patient stays on the step to
    answer it (no advance, no missing-answer errors).
    """
    questionnaire = content.questionnaire
    if lock_version != response.lock_version:
        return StepConflict(_items_now(questionnaire, response, step_index))
    stored = enabled_answers(questionnaire, response.answers)
    shown = enabled_items(questionnaire, stored, step_index)
    merged = {key: value for key, value in stored.items() if key not in submitted}
    merged.update(cleaned_answers)
    after = enabled_answers(questionnaire, merged)
    now_enabled = enabled_items(questionnaire, after, step_index)
    if invalid:
        return StepNotSaved(_in_step_order(questionnaire.steps[step_index].items, shown, now_enabled))
    shown_ids = {item.id for item in shown}
    added = any(item.answerable and item.id not in shown_ids for item in now_enabled)
    advance = advance and not added
    if advance:
        missing = missing_required(questionnaire, after, [step_index])
        if missing:
            return StepNotSaved(now_enabled, missing)
    checks_changed = any(
        item.correct and item.id in cleaned_answers and cleaned_answers.get(item.id) != stored.get(item.id)
        for item in now_enabled
    )
    try:
        await save_step(
            session,
            response,
            content,
            step_index,
            cleaned_answers,
            expected_lock_version=lock_version,
            advance=advance,
        )
    except ResponseConflict:
        await session.rollback()  # the failed flush leaves the session needing a rollback
        await session.refresh(response)
        return StepConflict(_items_now(questionnaire, response, step_index))
    counters.STEPS_SAVED.inc()
    return StepSaved(added=added, checks_changed=checks_changed)


def consult_date_answer(content: Content, answers: Mapping[str, Any]) -> date | None:
    """The consult date the patient gave, read from the item the rules' roles name."""
    value = answers.get(content.rules.roles.consult_date)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


async def record_questionnaire_version(session: AsyncSession, content: Content) -> None:
    """Keep the definition of every version a response was completed against (a no-op when known)."""
    statement = insert_versions_ignoring_duplicates(session.get_bind().dialect.name)
    await session.execute(statement, [version_row(content)])


async def complete_response(
    session: AsyncSession,
    response: PatientResponse,
    content: Content,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> PatientResponse:
    """Compute and store the summary snapshot. A completed response is returned unchanged."""
    if is_done(response):
        return response
    from sdm_service.decision import build_summaries  # imported late: the engine imports content too
    from sdm_service.decision.snapshot import PatientInfo

    content = content.in_language(response.language)  # the summary speaks the patient's language
    questionnaire = content.questionnaire
    answers = enabled_answers(questionnaire, response.answers)
    missing = missing_required(questionnaire, answers)
    if missing:
        raise ResponseIncomplete(missing)
    now = now or utcnow()
    consult_date = response.consult_date or consult_date_answer(content, answers)
    snapshot = build_summaries(
        content,
        answers,
        response_id=str(response.id),
        completed_at=now,
        patient=PatientInfo(
            name=response.patient_name or None,
            identifier_system=response.patient_system or None,
            identifier_value=response.patient_value or None,
        ),
        consult_date=consult_date,
        clinic_name=settings.clinic_name,
        funding_note=settings.summary_funding_note,
    )
    response.answers = answers
    response.summary = snapshot.model_dump(mode="json")
    response.status = ResponseStatus.COMPLETED
    response.completed_at = now
    response.updated_at = now
    response.consult_date = consult_date
    response.conflict_score = snapshot.conflict.score
    response.conflict_flag = snapshot.conflict.flagged
    response.top_priority = snapshot.most_important or (
        snapshot.priorities[0].code if snapshot.priorities else None
    )
    session.add(response)
    try:
        await session.flush()  # first: the version insert below would autoflush outside this try
    except StaleDataError as exc:  # a concurrent submit (a double click) completed it first
        raise ResponseConflict("The response changed while completing.") from exc
    await record_questionnaire_version(session, content)
    if response.invitation_id is not None:
        await task_status.response_completed(session, response.id, now=now)
    # Same transaction: an acknowledged completion always has its delivery to the EHR (if any).
    await record_pending(session, settings, response)
    counters.QUESTIONNAIRE_COMPLETIONS.labels(response.source).inc()
    return response
