"""Responses the EHR captured elsewhere and pushes as a FHIR QuestionnaireResponse.

They meet the same rules as answers typed on the web: the questionnaire canonical must be the
current url|version, every answer must be readable, allowed and apply given the other answers,
and a `completed` response must answer every required question that applies. A completed
response is summarised by the same `complete_response` as the web flow. Any problem rejects the
whole resource (the request rolls back), so nothing half-valid is ever stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.content import Content
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.logic import validate_answers
from sdm_service.fhirmap.common import (
    InvalidResource,
    PatientReferenceProblem,
    patient_from_reference,
    validated,
)
from sdm_service.fhirmap.questionnaire_response import answers_from_questionnaire_response, canonical
from sdm_service.models import PatientResponse, ResponseStatus, utcnow
from sdm_service.services.responses import (
    ResponseIncomplete,
    complete_response,
    consult_date_answer,
    new_response,
)
from sdm_service.settings import Settings

MAX_ISSUES = 50  # enough to fix a resource in one pass without an unbounded error document
ACCEPTED_STATUSES = {"in-progress": ResponseStatus.IN_PROGRESS, "completed": ResponseStatus.COMPLETED}


@dataclass(frozen=True)
class IntakeProblem:
    expression: str  # FHIRPath-like location, e.g. QuestionnaireResponse.item[2].item[0]
    message: str


class IntakeRejected(Exception):
    """The resource cannot be stored; `problems` says why (at most MAX_ISSUES)."""

    def __init__(self, problems: list[IntakeProblem]) -> None:
        self.problems = problems[:MAX_ISSUES]
        super().__init__("; ".join(p.message for p in self.problems))


class IntakeMalformed(IntakeRejected):
    """Not a valid QuestionnaireResponse resource at all."""


class IntakeBreaksRules(IntakeRejected):
    """A valid resource that breaks the questionnaire's rules."""


def _malformed(expression: str, message: str) -> IntakeMalformed:
    return IntakeMalformed([IntakeProblem(expression, message)])


def _breaks_rules(expression: str, message: str) -> IntakeBreaksRules:
    return IntakeBreaksRules([IntakeProblem(expression, message)])


def _structure_problems(resource: Mapping[str, Any]) -> list[IntakeProblem]:
    # Imported on first use: the FHIR models are megabytes that a worker only needs for intake.
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse as FhirQuestionnaireResponse

    try:
        validated(FhirQuestionnaireResponse, resource)
    except InvalidResource as exc:
        return [IntakeProblem(*problem) for problem in exc.problems]
    return []


def _subject(resource: Mapping[str, Any]) -> tuple[str, str, str]:
    try:
        return patient_from_reference(resource.get("subject"))
    except PatientReferenceProblem as problem:
        if problem.missing:
            raise _breaks_rules(
                "QuestionnaireResponse.subject",
                "subject.identifier.value is required: identify the patient by the EHR's identifier "
                "(for example an MRN), not by a Patient resource reference.",
            ) from None
        raise _breaks_rules(
            f"QuestionnaireResponse.subject.{problem.part}", f"subject.{problem.part} {problem}"
        ) from None


def _explain(content: Content, link_id: str, message: str) -> str:
    """The web wording, plus what a developer needs: the allowed codes for a choice question."""
    try:
        item = content.questionnaire.item(link_id)
    except KeyError:
        return f"linkId {link_id!r}: {message}"
    text = f"linkId {link_id!r}: {message}"
    if item.option_codes() and "option" in message.lower():
        text += f" Allowed codes: {', '.join(item.option_codes())}."
    return text


async def store_questionnaire_response(
    session: AsyncSession,
    settings: Settings,
    content: Content,
    resource: Any,
    *,
    today: date | None = None,
) -> PatientResponse:
    """Validate a pushed QuestionnaireResponse and store it (source "fhir"); raise IntakeRejected."""
    if not isinstance(resource, Mapping):
        raise _malformed("", "The body must be a JSON object: a FHIR QuestionnaireResponse resource.")
    resource_type = resource.get("resourceType")
    if resource_type != "QuestionnaireResponse":
        raise _malformed(
            "resourceType",
            f"resourceType must be 'QuestionnaireResponse' here, not {resource_type!r}.",
        )
    structure = _structure_problems(resource)
    if structure:
        raise IntakeMalformed(structure)

    fhir_questionnaire = questionnaire_to_fhir(content.questionnaire, settings.base_url)
    expected = canonical(fhir_questionnaire)
    given = str(resource.get("questionnaire") or "")
    if given != expected:
        hint = " (include the version after '|')" if given == fhir_questionnaire["url"] else ""
        raise _breaks_rules(
            "QuestionnaireResponse.questionnaire",
            f"questionnaire must be {expected!r}{hint}; got {given or 'nothing'}.",
        )
    status = resource.get("status")
    if status not in ACCEPTED_STATUSES:
        raise _breaks_rules(
            "QuestionnaireResponse.status",
            f"status must be 'in-progress' or 'completed' for a new response, not {status!r}.",
        )
    system, value, name = _subject(resource)
    # Answers are read by code, so either language's display text is accepted; the resource's
    # language (if the content has it) becomes the patient's, for the summary and its PDF.
    language = content.choose_language(str(resource.get("language") or "") or None)

    raw, unreadable = answers_from_questionnaire_response(resource, content.questionnaire, fhir_questionnaire)
    problems = [IntakeProblem(path, message) for path, message in unreadable]
    complete = status == "completed"
    answers, errors = validate_answers(
        content.questionnaire, raw, today=today or utcnow().date(), complete=complete
    )
    problems.extend(
        IntakeProblem(
            f"QuestionnaireResponse.item.where(linkId='{link_id}')", _explain(content, link_id, msg)
        )
        for link_id, msg in errors.items()
    )
    if problems:
        raise IntakeBreaksRules(problems)

    now = utcnow()
    response = new_response(
        content,
        status=ResponseStatus.IN_PROGRESS,
        source="fhir",
        now=now,
        language=language,
        patient_system=system,
        patient_value=value,
        patient_name=name,
        consult_date=consult_date_answer(content, answers),
        answers=answers,
        current_step=len(content.questionnaire.steps) if complete else 0,
    )
    session.add(response)
    await session.flush()
    if complete:
        try:
            await complete_response(session, response, content, settings, now=now)
        except ResponseIncomplete as exc:  # validate_answers already checked; kept as a safety net
            raise IntakeBreaksRules(
                [
                    IntakeProblem("QuestionnaireResponse.item", _explain(content, m, "needs an answer."))
                    for m in exc.missing
                ],
            ) from None
    return response
