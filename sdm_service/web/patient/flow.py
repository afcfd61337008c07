"""Where a patient is in a questionnaire and where each button leads: pure functions of the
questionnaire, the answers and the response (no request, no database)."""

from __future__ import annotations

from typing import Any

from sdm_service.content import Content
from sdm_service.content.logic import (
    enabled_items,
)
from sdm_service.content.schema import Item, Questionnaire
from sdm_service.i18n import N_
from sdm_service.models import PatientResponse
from sdm_service.paths import questionnaire_path
from sdm_service.services import responses as response_service
from sdm_service.settings import Settings


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
    return N_("Check your answers")


def base_path(content: Content) -> str:
    return questionnaire_path(content.slug)


def step_path(content: Content, number: int) -> str:
    return f"{base_path(content)}/step/{number}"


def place_path(content: Content, response: PatientResponse) -> str:
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
