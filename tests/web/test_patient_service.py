"""The response service the web pages and the API share: tokens, step saves, completion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar import Litestar
from sqlalchemy import func, select

from sdm_service.models import PatientResponse, QuestionnaireVersion, ResponseStatus
from sdm_service.security import hash_token
from sdm_service.services import invitations
from sdm_service.services import responses as service
from sdm_service.settings import Settings
from sdm_service.web.patient import question_step_count
from tests.web.patient_support import content_of, db, step_values


def full_answers(app: Litestar) -> dict:
    content = content_of(app)
    answers: dict = {}
    for index in range(question_step_count(content.questionnaire)):
        answers.update(step_values(content, answers, index))
    return answers


async def test_start_stores_only_the_token_hash_and_loads_by_token(app: Litestar) -> None:
    content = content_of(app)
    async with db(app) as session:
        response, token = await service.start_response(session, content, source="api")
        await session.commit()
        assert response.resume_token_hash == hash_token(token)
        assert response.status == ResponseStatus.IN_PROGRESS
        assert response.source == "api"
        assert response.questionnaire_version == content.version
        assert (await service.load_by_token(session, token)).id == response.id
        assert await service.load_by_token(session, token + "x") is None
        assert await service.load_by_token(session, "") is None
        assert await service.load_by_token(session, "x" * 500) is None


async def test_save_step_merges_drops_and_guards_the_lock(app: Litestar) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    async with db(app) as session:
        response, _ = await service.start_response(session, content)
        await session.commit()
        first = step_values(content, {}, 0)
        await service.save_step(session, response, content, 0, first, expected_lock_version=1)
        await session.commit()
        assert response.answers == first
        assert response.current_step == 1
        version = response.lock_version
        assert version == 2

        with pytest.raises(service.ResponseConflict):
            await service.save_step(session, response, content, 0, first, expected_lock_version=1)
        other_step_item = questionnaire.steps[1].items[-1].id
        with pytest.raises(ValueError, match="Not items of step"):
            await service.save_step(
                session, response, content, 0, {other_step_item: "x"}, expected_lock_version=version
            )
        # Leaving an item out of a step's answers clears it.
        cleared_id = next(iter(first))
        partial = {k: v for k, v in first.items() if k != cleared_id}
        await service.save_step(session, response, content, 0, partial, expected_lock_version=version)
        await session.commit()
        assert cleared_id not in response.answers
        assert response.current_step == 1  # progress never moves backwards


async def test_complete_is_idempotent_and_records_the_version_once(app: Litestar, settings: Settings) -> None:
    content = content_of(app)
    async with db(app) as session:
        response, _ = await service.start_response(session, content)
        response.answers = {}
        with pytest.raises(service.ResponseIncomplete) as missing:
            await service.complete_response(session, response, content, settings)
        assert missing.value.missing
        response.answers = full_answers(app)
        when = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
        await service.complete_response(session, response, content, settings, now=when)
        await session.commit()
        snapshot = dict(response.summary or {})
        assert response.status == ResponseStatus.COMPLETED
        assert response.completed_at == when
        assert snapshot["response_id"] == str(response.id)
        assert snapshot["clinic_name"] == settings.clinic_name

        again = await service.complete_response(session, response, content, settings)
        await session.commit()
        assert again.summary == snapshot
        assert again.completed_at == when
        with pytest.raises(service.ResponseClosed):
            await service.save_step(
                session, response, content, 0, {}, expected_lock_version=response.lock_version
            )

        other, _ = await service.start_response(session, content)
        other.answers = full_answers(app)
        await service.complete_response(session, other, content, settings)
        await session.commit()
        count = (await session.execute(select(func.count()).select_from(QuestionnaireVersion))).scalar_one()
        assert count == 1
        stored = (await session.execute(select(QuestionnaireVersion))).scalar_one()
        assert stored.content_hash == content.content_hash
        assert stored.definition == content.definition()


async def test_open_invitation_keeps_earlier_links_working(app: Litestar, settings: Settings) -> None:
    content = content_of(app)
    async with db(app) as session:
        created = await invitations.create_invitation(session, settings, content, patient_value="P-1")
        await session.commit()
        response, first_token = await service.open_invitation(
            session, created.invitation, link_token=created.token
        )
        await session.commit()
        assert response.status == ResponseStatus.IN_PROGRESS
        assert first_token != created.token  # the first opening makes a resume token of its own
        again, second_token = await service.open_invitation(
            session, created.invitation, link_token=created.token
        )
        await session.commit()
        assert again.id == response.id
        assert second_token == created.token
        for token in (first_token, created.token):
            found = await service.load_by_token(session, token)
            assert found is not None
            assert found.id == response.id
        rows = (await session.execute(select(func.count()).select_from(PatientResponse))).scalar_one()
        assert rows == 1


async def test_answer_step_decides_saved_missing_and_conflict(app: Litestar) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    first = step_values(content, {}, 0)
    step_ids = {item.id for item in questionnaire.steps[0].items if item.answerable}
    async with db(app) as session:
        response, _ = await service.start_response(session, content)
        await session.commit()

        # Continue with nothing answered: nothing stored, the required questions are named.
        missing = await service.answer_step(
            session, response, content, 0, {}, submitted=step_ids, invalid=False, lock_version=1, advance=True
        )
        assert isinstance(missing, service.StepNotSaved)
        assert missing.missing
        assert set(missing.missing) <= step_ids
        assert response.answers == {}
        assert response.lock_version == 1

        # A form with unreadable answers: nothing stored, no missing-answer errors on top.
        invalid = await service.answer_step(
            session,
            response,
            content,
            0,
            first,
            submitted=step_ids,
            invalid=True,
            lock_version=1,
            advance=True,
        )
        assert isinstance(invalid, service.StepNotSaved)
        assert invalid.missing == []
        assert response.answers == {}

        saved = await service.answer_step(
            session,
            response,
            content,
            0,
            first,
            submitted=step_ids,
            invalid=False,
            lock_version=1,
            advance=True,
        )
        await session.commit()
        assert saved == service.StepSaved(added=False, checks_changed=False)
        assert response.answers == first
        assert response.current_step == 1

        # An old form (lock version 1) after the save: a conflict, and the answers stay as stored.
        stale = await service.answer_step(
            session,
            response,
            content,
            0,
            {},
            submitted=step_ids,
            invalid=False,
            lock_version=1,
            advance=False,
        )
        assert isinstance(stale, service.StepConflict)
        assert stale.items
        assert {item.id for item in stale.items} <= {item.id for item in questionnaire.steps[0].items}
        assert response.answers == first
