"""QuestionnaireResponse both ways.

Out: a stored response becomes a QuestionnaireResponse whose item tree mirrors the FHIR
Questionnaire (groups, linkIds, codings), so SDC tools can line answers up with questions.
In: a QuestionnaireResponse captured elsewhere becomes our answers dict (linkId -> canonical
value), with a message for every answer that cannot be read; logic.validate_answers then judges
the values themselves (allowed codes, what applies, what is required).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sdm_service.content.schema import Item, Questionnaire
from sdm_service.fhirmap.common import fhir_instant, fhir_status, identifier_reference, meta

CHOICE_TYPES = frozenset({"single_choice", "importance", "yes_no", "multiple_choice"})


@dataclass(frozen=True)
class ResponseRecord:
    """What the mapping needs from a stored response (kept apart from the ORM on purpose)."""

    id: str
    status: str  # ours: invited | in_progress | completed | reviewed
    answers: Mapping[str, Any]
    patient_system: str
    patient_value: str
    patient_name: str
    updated_at: datetime
    authored_at: datetime
    version_id: int | None = None
    language: str = "en"  # the patient's language

    @classmethod
    def of(cls, row: Any) -> ResponseRecord:
        """From a stored response: the ORM object, or a row of the responses table."""
        return cls(
            id=str(row.id),
            status=row.status,
            answers=row.answers or {},
            patient_system=row.patient_system,
            patient_value=row.patient_value,
            patient_name=row.patient_name,
            updated_at=row.updated_at,
            authored_at=row.completed_at or row.updated_at,
            version_id=row.lock_version,
            language=row.language or "en",
        )


def canonical(fhir_questionnaire: Mapping[str, Any]) -> str:
    """The versioned canonical a response points at: url|version."""
    return f"{fhir_questionnaire['url']}|{fhir_questionnaire['version']}"


def _options(fhir_item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The codings a FHIR item offers, by code."""
    found: dict[str, dict[str, Any]] = {}
    for option in fhir_item.get("answerOption", ()) or ():
        coding = option.get("valueCoding")
        if isinstance(coding, dict) and "code" in coding:
            found[coding["code"]] = coding
    return found


def _coding(options: Mapping[str, dict[str, Any]], item: Item, code: str) -> dict[str, Any]:
    offered = options.get(code)
    if offered is not None:
        return {key: offered[key] for key in ("system", "code", "display") if key in offered}
    return {"code": code, "display": item.option_label(code)}


def _answers_out(fhir_item: Mapping[str, Any], item: Item, value: Any) -> list[dict[str, Any]]:
    fhir_type = fhir_item.get("type")
    if item.type == "yes_no" and fhir_type == "boolean":
        return [{"valueBoolean": value == "yes"}]
    if item.type in CHOICE_TYPES:
        codes = value if isinstance(value, list) else [value]
        options = _options(fhir_item)
        return [{"valueCoding": _coding(options, item, str(code))} for code in codes]
    if item.type == "date":
        return [{"valueDate": str(value)}]
    return [{"valueString": str(value)}]


def _items_out(
    fhir_items: list[Mapping[str, Any]], known: Mapping[str, Item], answers: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """`known`: the questionnaire's items by id, built once by the caller for the whole tree."""
    produced: list[dict[str, Any]] = []
    for fhir_item in fhir_items:
        link_id = fhir_item.get("linkId", "")
        entry: dict[str, Any] = {"linkId": link_id}
        if "text" in fhir_item:
            entry["text"] = fhir_item["text"]
        item = known.get(link_id)
        if item is not None and item.answerable and link_id in answers:
            entry["answer"] = _answers_out(fhir_item, item, answers[link_id])
        children = _items_out(list(fhir_item.get("item", ()) or ()), known, answers)
        if children:
            entry["item"] = children
        if "answer" in entry or "item" in entry:
            produced.append(entry)
    return produced


def to_questionnaire_response(
    record: ResponseRecord, questionnaire: Questionnaire, fhir_questionnaire: Mapping[str, Any]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": record.id,
        "meta": meta(record.updated_at, record.version_id),
        "language": record.language,
        "questionnaire": canonical(fhir_questionnaire),
        "status": fhir_status(record.status),
        "authored": fhir_instant(record.authored_at),
    }
    subject = identifier_reference(record.patient_system, record.patient_value, record.patient_name)
    if subject is not None:
        resource["subject"] = subject
    known = {item.id: item for item in questionnaire.items()}
    items = _items_out(list(fhir_questionnaire.get("item", ()) or ()), known, record.answers)
    if items:
        resource["item"] = items
    return resource


# --- in ------------------------------------------------------------------------------------------


def _walk(items: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every item in a (structurally valid) QuestionnaireResponse tree, with a FHIRPath-like path."""
    for index, item in enumerate(items or ()):
        here = f"{path}.item[{index}]"
        yield here, item
        yield from _walk(item.get("item"), here)
        for answer_index, answer in enumerate(item.get("answer") or ()):
            yield from _walk(answer.get("item"), f"{here}.answer[{answer_index}]")


def _value_in(item: Item, answer: Mapping[str, Any], fhir_item: Mapping[str, Any] | None) -> Any:
    """One FHIR answer as our raw value, or raise ValueError saying what was expected."""
    value_keys = [key for key in answer if key.startswith("value")]
    if len(value_keys) != 1:
        raise ValueError("Each answer needs exactly one value[x].")
    key = value_keys[0]
    value = answer[key]
    if item.type in CHOICE_TYPES:
        if item.type == "yes_no" and key == "valueBoolean":
            return "yes" if value else "no"
        if key != "valueCoding" or not isinstance(value, Mapping) or not value.get("code"):
            expected = "valueCoding (or valueBoolean)" if item.type == "yes_no" else "valueCoding"
            raise ValueError(f"Expected {expected} with a code from the question's answerOption.")
        expected_system = None
        if fhir_item is not None:
            offered = _options(fhir_item).get(value["code"])
            expected_system = offered.get("system") if offered else None
        if value.get("system") and expected_system and value["system"] != expected_system:
            raise ValueError(f"Coding system {value['system']!r} is not the one this question uses.")
        return value["code"]
    if item.type == "date":
        if key != "valueDate":
            raise ValueError("Expected valueDate (YYYY-MM-DD).")
        return str(value)
    if key != "valueString":
        raise ValueError("Expected valueString.")
    return value


def _fhir_items_by_link_id(fhir_questionnaire: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}

    def visit(items: Any) -> None:
        for item in items or ():
            found[item.get("linkId", "")] = item
            visit(item.get("item"))

    if fhir_questionnaire is not None:
        visit(fhir_questionnaire.get("item"))
    return found


def answers_from_questionnaire_response(
    resource: Mapping[str, Any],
    questionnaire: Questionnaire,
    fhir_questionnaire: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Raw answers by linkId and a list of (FHIRPath expression, message) for unreadable answers.

    The resource must already have passed structural validation (fhir.resources model); values are
    not judged here beyond their FHIR type: logic.validate_answers does that.
    """
    known = {item.id: item for item in questionnaire.items()}
    fhir_items = _fhir_items_by_link_id(fhir_questionnaire)
    group_ids = {step.id for step in questionnaire.steps} | {
        link_id for link_id, item in fhir_items.items() if item.get("type") == "group"
    }
    answers: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for path, entry in _walk(resource.get("item"), "QuestionnaireResponse"):
        link_id = entry.get("linkId", "")
        given = entry.get("answer") or []
        item = known.get(link_id)
        if item is None:
            if link_id not in group_ids and link_id not in fhir_items:
                problems.append((path, f"Unknown linkId {link_id!r}: this questionnaire has no such item."))
            elif given:
                problems.append((path, f"{link_id!r} is a group or display text and takes no answers."))
            continue
        if link_id in answers:
            problems.append((path, f"linkId {link_id!r} appears more than once."))
            continue
        if not given:
            continue  # an item without an answer is the same as leaving it out
        if not item.answerable:
            problems.append((path, f"{link_id!r} is display text and takes no answer."))
            continue
        if len(given) > 1 and item.type != "multiple_choice":
            problems.append((path, f"{link_id!r} takes one answer, not {len(given)}."))
            continue
        try:
            values = [_value_in(item, answer, fhir_items.get(link_id)) for answer in given]
        except ValueError as exc:
            problems.append((path, f"{link_id!r}: {exc}"))
            continue
        answers[link_id] = values if item.type == "multiple_choice" else values[0]
    return answers, problems
