"""What a clinician reads about one response, and marking it reviewed.

Every review is its own row (who, when, note) and is never edited, so reviewing twice keeps the
history. Answers are shown by step: from the stored summary snapshot when the response is
complete, otherwise from the raw answers read against the questionnaire version it is pinned to.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.content import ContentLibrary
from sdm_service.content.logic import enabled_answers
from sdm_service.content.schema import Questionnaire
from sdm_service.decision import engine
from sdm_service.decision.snapshot import AnswerLine, StepAnswers, SummarySnapshot
from sdm_service.models import PatientResponse, ResponseStatus, Review, User, utcnow
from sdm_service.services.questionnaires import pinned_questionnaire

MAX_NOTE_LENGTH = 4000
REVIEWABLE = (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED)


class ReviewError(ValueError):
    """The review cannot be saved; the message is safe to show to the clinician."""


@dataclass(frozen=True)
class ReviewEntry:
    review: Review
    reviewer_username: str
    reviewer_display_name: str


@dataclass(frozen=True)
class ResponseDetails:
    response: PatientResponse
    snapshot: SummarySnapshot | None
    snapshot_problem: bool  # a stored summary exists but could not be read
    answers_by_step: tuple[StepAnswers, ...]
    reviews: Sequence[ReviewEntry]

    @property
    def reviewable(self) -> bool:
        return self.response.status in REVIEWABLE


def clean_note(note: str | None) -> str:
    text = (note or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise ReviewError(f"Keep the note to {MAX_NOTE_LENGTH} characters or fewer (it has {len(text)}).")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise ReviewError("The note contains characters that cannot be saved.")
    return text


async def mark_reviewed(
    session: AsyncSession,
    response: PatientResponse,
    reviewer: User,
    note: str | None,
    *,
    now: datetime | None = None,
) -> Review:
    if response.status not in REVIEWABLE:
        raise ReviewError("Only a completed response can be marked reviewed.")
    text = clean_note(note)
    now = now or utcnow()
    review = Review(response_id=response.id, reviewer_id=reviewer.id, note=text, created_at=now)
    response.status = ResponseStatus.REVIEWED
    response.reviewed_at = now
    response.updated_at = now
    session.add(review)
    session.add(response)
    await session.flush()  # raises StaleDataError if the response changed under us
    return review


async def reviews_for(session: AsyncSession, response_id: uuid.UUID) -> list[ReviewEntry]:
    rows = (
        await session.execute(
            select(Review, col(User.username), col(User.display_name))
            .join(User, col(User.id) == col(Review.reviewer_id))
            .where(col(Review.response_id) == response_id)
            .order_by(col(Review.created_at).desc(), col(Review.id))
        )
    ).all()
    return [ReviewEntry(review, username, display) for review, username, display in rows]


def answers_by_step(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> tuple[StepAnswers, ...]:
    """Only answers that still apply, in questionnaire order, worded as on the patient's summary."""
    return engine.answers_by_step(questionnaire, enabled_answers(questionnaire, answers))


def raw_answers_by_step(answers: Mapping[str, Any]) -> tuple[StepAnswers, ...]:
    """Last resort when the questionnaire version is unknown: show ids and stored values."""
    if not answers:
        return ()
    lines = tuple(
        AnswerLine(
            item_id=key, question=key, answer=", ".join(map(str, v)) if isinstance(v, list) else str(v)
        )
        for key, v in answers.items()
    )
    return (StepAnswers(step_id="answers", title="Stored answers", answers=lines),)


def read_snapshot(response: PatientResponse) -> tuple[SummarySnapshot | None, bool]:
    """(snapshot, problem): problem is True when a stored summary exists but does not validate."""
    if not response.summary:
        return None, False
    try:
        return SummarySnapshot.model_validate(response.summary), False
    except ValidationError:
        return None, True


async def summary_language(session: AsyncSession, response_id: uuid.UUID) -> str:
    """The language of the response's stored summary (read_snapshot(...).language), read from the
    stored JSON by the database rather than by loading and validating the whole summary."""
    language = col(PatientResponse.summary)["language"].as_string()
    statement = select(language).where(col(PatientResponse.id) == response_id)
    kept_in = (await session.execute(statement)).scalar_one_or_none()
    return kept_in or SummarySnapshot.model_fields["language"].default


async def response_details(
    session: AsyncSession, library: ContentLibrary, response: PatientResponse
) -> ResponseDetails:
    snapshot, problem = read_snapshot(response)
    steps: tuple[StepAnswers, ...] = snapshot.answers_by_step if snapshot else ()
    if not steps:
        questionnaire = await pinned_questionnaire(
            session, library, response.questionnaire_slug, response.questionnaire_version
        )
        if questionnaire is not None:
            steps = answers_by_step(questionnaire, response.answers or {})
        else:
            steps = raw_answers_by_step(response.answers or {})
    return ResponseDetails(
        response=response,
        snapshot=snapshot,
        snapshot_problem=problem,
        answers_by_step=steps,
        reviews=await reviews_for(session, response.id),
    )
