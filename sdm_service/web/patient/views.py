"""What the patient pages show: each item as a field, answers as text, the step and review pages."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from litestar.response import Template

from sdm_service.content import Content
from sdm_service.content.logic import (
    enabled_answers,
    enabled_items,
)
from sdm_service.content.schema import Item
from sdm_service.i18n import N_
from sdm_service.models import PatientResponse, utcnow
from sdm_service.settings import Settings
from sdm_service.web.patient.flow import (
    base_path,
    previous_path,
    question_step_count,
    resume_url,
    review_intro_items,
    review_title,
    step_path,
    total_step_count,
)
from sdm_service.web.patient.forms import CHOICE_TYPES, StepForm
from sdm_service.web.patient.visit import page

# Marked for the catalogs; the templates translate them when shown.
REQUIRED_MESSAGES = {
    "single_choice": N_("Choose one answer."),
    "importance": N_("Choose how important this is to you."),
    "yes_no": N_("Choose yes or no."),
    "multiple_choice": N_("Choose at least one answer."),
    "date": N_("Enter a date."),
    "text": N_("Write your answer."),
}


# ---------------------------------------------------------------------------------------------
# Showing items


def _stored_values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _options(item: Item) -> list[tuple[str, str, str | None]]:
    if item.type in ("importance", "yes_no"):
        return [(code, item.option_label(code), None) for code in item.option_codes()]
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


def format_date(value: str) -> str:
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
        return format_date(value)
    if item.type in CHOICE_TYPES:
        return item.option_label(str(value))
    return str(value)


# ---------------------------------------------------------------------------------------------
# Page rendering


def step_page(
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
    return page(
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


def fields_from_answers(items: list[Item], answers: dict[str, Any]) -> list[FieldView]:
    return [FieldView(item=item, values=_stored_values(answers.get(item.id))) for item in items]


def fields_from_form(items: list[Item], step_form: StepForm) -> list[FieldView]:
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


def review_page(
    content: Content,
    settings: Settings,
    token: str,
    response: PatientResponse,
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
        errors.append((link, item.text, REQUIRED_MESSAGES.get(item.type, N_("Answer this question."))))
    title = f"Step {total} of {total}: {review_title(questionnaire)}"
    return page(
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
