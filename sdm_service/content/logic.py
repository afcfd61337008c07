"""Pure questionnaire logic shared by the web flow, the JSON API and FHIR intake.

Answers are a JSON object keyed by item id (FHIR linkId). Canonical values:
- single_choice, importance, yes_no: the option code (str; yes_no uses "yes"/"no")
- multiple_choice: list of option codes, in the questionnaire's order, no duplicates
- date: ISO date "YYYY-MM-DD"
- text: non-empty stripped string
Display items never have answers; an unanswered item has no key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from sdm_service.content.schema import Condition, Item, Questionnaire, RuleCondition, Trigger

Answers = dict[str, Any]


class AnswerError(ValueError):
    """A value that does not fit its item; the message is written for the person who typed it."""


def _condition_holds(condition: Condition, answers: Mapping[str, Any]) -> bool:
    present = condition.question in answers
    if condition.operator == "exists":
        return present == bool(condition.answer)
    if not present:
        # FHIR: '=' is false and '!=' is true when the question has no answer.
        return condition.operator == "!="
    value = answers[condition.question]
    expected = condition.answer
    if isinstance(expected, bool):
        expected = "yes" if expected else "no"
    matches = expected in value if isinstance(value, list) else value == expected
    return matches if condition.operator == "=" else not matches


def is_enabled(item: Item, answers: Mapping[str, Any]) -> bool:
    """Whether an item applies, given the answers to the (enabled) items before it."""
    if not item.enable_when:
        return True
    results = (_condition_holds(condition, answers) for condition in item.enable_when)
    return all(results) if item.enable_behavior == "all" else any(results)


def enabled_answers(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> Answers:
    """Answers with everything that no longer applies (or never existed) dropped.

    Conditions only look backwards (the validator enforces it), so one pass in document order
    settles every item: an answer to a disabled item cannot enable anything further on.
    """
    kept: Answers = {}
    for item in questionnaire.items():
        if item.answerable and item.id in answers and is_enabled(item, kept):
            kept[item.id] = answers[item.id]
    return kept


def enabled_items(questionnaire: Questionnaire, answers: Mapping[str, Any], step_index: int) -> list[Item]:
    kept = enabled_answers(questionnaire, answers)
    return [item for item in questionnaire.steps[step_index].items if is_enabled(item, kept)]


def missing_required(
    questionnaire: Questionnaire, answers: Mapping[str, Any], step_indexes: Iterable[int] | None = None
) -> list[str]:
    """Ids of required items that apply but have no answer, in document order."""
    kept = enabled_answers(questionnaire, answers)
    wanted = set(range(len(questionnaire.steps)) if step_indexes is None else step_indexes)
    missing = []
    for index, step in enumerate(questionnaire.steps):
        if index not in wanted:
            continue
        for item in step.items:
            if item.answerable and item.required and item.id not in kept and is_enabled(item, kept):
                missing.append(item.id)
    return missing


def clean_answer(item: Item, value: Any, *, today: date) -> Any:
    """Check one value against its item and return it in canonical form, or raise AnswerError."""
    if not item.answerable:
        raise AnswerError("This item is information only and takes no answer.")
    allowed = item.option_codes()
    if item.type in ("single_choice", "importance", "yes_no"):
        if isinstance(value, bool) and item.type == "yes_no":
            value = "yes" if value else "no"
        if not isinstance(value, str) or value not in allowed:
            raise AnswerError("Choose one of the options shown.")
        return value
    if item.type == "multiple_choice":
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise AnswerError("Choose from the options shown.")
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise AnswerError("Choose from the options shown.")
        chosen = set(values)
        return [code for code in allowed if code in chosen]
    if item.type == "date":
        if not isinstance(value, str):
            raise AnswerError("Enter a date like 2026-03-14.")
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            raise AnswerError("Enter a real date, like 2026-03-14.") from None
        window = item.date_range
        if window is not None:
            earliest = today + timedelta(days=window.min_days)
            latest = today + timedelta(days=window.max_days)
            if not earliest <= parsed <= latest:
                raise AnswerError(f"Enter a date between {earliest.isoformat()} and {latest.isoformat()}.")
        return parsed.isoformat()
    # text
    if not isinstance(value, str):
        raise AnswerError("Enter text.")
    text = value.strip()
    if not text:
        raise AnswerError("Enter some text, or leave this empty.")
    if len(text) > item.max_length:
        raise AnswerError(f"Keep this to {item.max_length} characters or fewer (you have {len(text)}).")
    if "\x00" in text:
        raise AnswerError("This text contains characters that cannot be saved.")
    return text


def validate_answers(
    questionnaire: Questionnaire, answers: Mapping[str, Any], *, today: date, complete: bool
) -> tuple[Answers, dict[str, str]]:
    """Validate a whole answer set (API and FHIR intake). Returns (clean answers, errors by item id).

    Unknown ids are errors; answers to items that do not apply are errors too, so nothing the
    patient could not have been asked is stored. With complete=True, required items must be answered.
    """
    errors: dict[str, str] = {}
    known = {item.id: item for item in questionnaire.items()}
    cleaned: Answers = {}
    for link_id, value in answers.items():
        item = known.get(link_id)
        if item is None:
            errors[link_id] = "Unknown question id."
            continue
        try:
            cleaned[link_id] = clean_answer(item, value, today=today)
        except AnswerError as exc:
            errors[link_id] = str(exc)
    kept = enabled_answers(questionnaire, cleaned)
    for link_id in cleaned:
        if link_id not in kept:
            errors[link_id] = "This question does not apply given the other answers."
    if complete:
        for link_id in missing_required(questionnaire, kept):
            errors.setdefault(link_id, "This question needs an answer.")
    return kept, errors


# --- rules.yaml conditions (used by the decision engine and the content checks) ----------------


def answer_codes(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, str):
        return [value]
    return []


def condition_holds(condition: RuleCondition, answers: Mapping[str, Any]) -> bool:
    value = answers.get(condition.item)
    present = value is not None
    if condition.answered is not None:
        return present == condition.answered
    chosen = answer_codes(value)
    if condition.in_ is not None:
        return any(code in condition.in_ for code in chosen)
    return not any(code in (condition.not_in or ()) for code in chosen)


def trigger_fires(trigger: Trigger, answers: Mapping[str, Any]) -> bool:
    return all(condition_holds(condition, answers) for condition in trigger.when)
