"""Reading a step's form: anything a real page could not have sent is a 400; answers are checked
and put in their canonical form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

from sdm_service.content.logic import (
    AnswerError,
    clean_answer,
)
from sdm_service.content.schema import Questionnaire

CONTROL_FIELDS = frozenset({"_csrf_token", "lock_version", "action"})
STEP_ACTIONS = frozenset({"continue", "back", "save"})
CHOICE_TYPES = frozenset({"single_choice", "importance", "yes_no"})


# ---------------------------------------------------------------------------------------------
# Reading a step's form


@dataclass
class StepForm:
    action: str
    lock_version: int
    raw: dict[str, list[str]]  # what was typed, to show again
    cleaned: dict[str, Any]  # valid answers, canonical form
    errors: dict[str, str]  # item id -> message written for the patient


def bad_form(reason: str) -> HTTPException:
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
        raise bad_form("unknown form fields")
    action = form.get("action") or "continue"
    lock_values = form.getall("lock_version") if "lock_version" in names else []
    if action not in STEP_ACTIONS or len(lock_values) != 1 or len(form.getall("action", [])) > 1:
        raise bad_form("bad control fields")
    try:
        lock_version = int(lock_values[0])
    except (TypeError, ValueError):
        raise bad_form("bad lock version") from None
    raw: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item_id, item in items.items():
        values = [v for v in form.getall(item_id) if isinstance(v, str)] if item_id in names else []
        if item_id in names and len(values) != len(form.getall(item_id)):
            raise bad_form("file upload where text was expected")
        raw[item_id] = values
        if item.type in CHOICE_TYPES or item.type == "multiple_choice":
            if item.type in CHOICE_TYPES and len(values) > 1:
                raise bad_form("more than one value for a single choice")
            if not values:
                continue
            try:
                cleaned[item_id] = clean_answer(
                    item, values if item.type == "multiple_choice" else values[0], today=today
                )
            except AnswerError:
                raise bad_form("a choice that was not offered") from None
            continue
        if len(values) > 1:
            raise bad_form("more than one value for one field")
        text = values[0] if values else ""
        if not text.strip():
            continue
        try:
            cleaned[item_id] = clean_answer(item, text, today=today)
        except AnswerError as exc:
            errors[item_id] = str(exc)
    return StepForm(action=action, lock_version=lock_version, raw=raw, cleaned=cleaned, errors=errors)
