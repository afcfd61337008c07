"""Realistic records of every kind, written straight through the services and models."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service.audit import Actor, record
from sdm_service.content import Content
from sdm_service.models import (
    ApiClient,
    Invitation,
    PatientResponse,
    RateCounter,
    ResponseStatus,
    Review,
    User,
    UserSession,
    utcnow,
)
from sdm_service.security import hash_token
from sdm_service.services.responses import complete_response, start_response
from sdm_service.settings import Settings
from sdm_service.web.patient import question_step_count
from tests.web.patient_support import step_values


def complete_answers(content: Content) -> dict[str, Any]:
    """A valid answer for every question that applies (each step twice, for its follow-ups)."""
    answers: dict[str, Any] = {}
    for index in range(question_step_count(content.questionnaire)):
        for _ in range(2):
            answers.update(step_values(content, answers, index))
    return answers


async def seed_everything(engine: AsyncEngine, content: Content, settings: Settings) -> dict[str, Any]:
    """A completed and reviewed response, one in progress, one invited, accounts and audit events."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        clinician = User(username="dr.lee", display_name="Dr Zoë Lee — 日本", password_hash="$argon2id$x")
        ehr = ApiClient(name="EHR", token_hash=hash_token("ehr-token"), token_prefix="ehr-", scopes="a b")
        session.add_all([clinician, ehr])
        await session.flush()

        done, _ = await start_response(session, content)
        done.patient_system, done.patient_value, done.patient_name = "urn:mrn", "MRN-1", "Ana Éxample"
        done.answers = complete_answers(content)
        await complete_response(session, done, content, settings)
        session.add(Review(response_id=done.id, reviewer_id=clinician.id, note="Talked it over.\nSee you."))

        partial, _ = await start_response(session, content)
        partial.answers = step_values(content, {}, 0)  # answered the first step, then left

        invited = PatientResponse(
            questionnaire_slug=content.slug,
            questionnaire_version=content.version,
            status=ResponseStatus.INVITED,
            patient_value="MRN-2",
            consult_date=date(2026, 12, 24),
        )
        session.add(invited)
        await session.flush()
        session.add(
            Invitation(
                token_hash=hash_token("invitation-token"),
                patient_value="MRN-2",
                patient_name="Bo Example",
                consult_date=date(2026, 12, 24),
                expires_at=utcnow() + timedelta(days=30),
                created_by_user_id=clinician.id,
                response_id=invited.id,
            )
        )
        for action in ("response.viewed", "pdf.downloaded", "response.reviewed"):
            await record(
                session,
                Actor("clinician", str(clinician.id), "dr.lee"),
                action,
                entity_type="response",
                entity_id=str(done.id),
                ip="10.0.0.7",
                detail={"note": "ünïcode", "n": 1},
            )
        # Short-lived rows that an export leaves out on purpose.
        session.add(RateCounter(bucket="api", key="k" * 64, slot_start=0, hits=1, expires_at=60))
        session.add(
            UserSession(token_hash="s" * 64, user_id=clinician.id, expires_at=utcnow() + timedelta(hours=1))
        )
        await session.commit()
    return {"completed": done.id, "in_progress": partial.id, "invited": invited.id}
