"""The questionnaire as a FHIR R4 Questionnaire resource (pure; validated in tests with fhir.resources).

Mapping:
- each step becomes a `group` item (linkId `step-<step id>`, so it never clashes with an item id),
  with its intro as a leading `display` item;
- single_choice, importance and yes_no become `choice` with answerOption valueCoding, one code
  system per value set; multiple_choice is `choice` with `repeats: true`;
- date -> `date`, text -> `text`, display -> `display`; help text is a child display item with the
  SDC itemControl `help`, which standard SDC renderers show as help;
- enable_when -> enableWhen (answerCoding for codes, answerBoolean for `exists`) + enableBehavior;
- `language` is the default language; every text in another language rides on its element as the
  standard translation extension (`_text`, `_title`, `_description`, `_display`).
Answers in a QuestionnaireResponse use the same codings (see `option_coding`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from sdm_service.content.schema import CODED_TYPES, Condition, Item, Questionnaire, Step

TRANSLATION_URL = "http://hl7.org/fhir/StructureDefinition/translation"
TRANSLATED_KEYS = ("title", "description", "text", "display")
ITEM_CONTROL_URL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"
ITEM_CONTROL_SYSTEM = "http://hl7.org/fhir/questionnaire-item-control"

# Every coded type is a `choice`; the others keep their name.
FHIR_TYPES: dict[str, str] = {
    **dict.fromkeys(CODED_TYPES, "choice"),
    "date": "date",
    "text": "text",
    "display": "display",
}


def questionnaire_url(base_url: str, questionnaire: Questionnaire) -> str:
    return f"{base_url.rstrip('/')}/fhir/Questionnaire/{questionnaire.id}"


def option_system(base_url: str, questionnaire: Questionnaire, item: Item) -> str:
    """The code system of an item's options: shared scales have one each, other items their own."""
    root = f"{base_url.rstrip('/')}/fhir/CodeSystem"
    if item.type == "importance":
        return f"{root}/importance"
    if item.type == "yes_no":
        return f"{root}/yes-no"
    return f"{root}/{questionnaire.id}-{item.id.replace('_', '-')}"


def option_coding(base_url: str, questionnaire: Questionnaire, item: Item, code: str) -> dict[str, str]:
    return {
        "system": option_system(base_url, questionnaire, item),
        "code": code,
        "display": item.option_label(code),
    }


def group_link_id(step: Step) -> str:
    return f"step-{step.id}"


# Mapped resources by (questionnaire object, base URL): every FHIR read of a response lays its
# answers out on the mapped form, and the form only changes with the loaded content.
_CACHE_SIZE = 32
_mapped: OrderedDict[tuple[int, str, tuple[int, ...]], tuple[Questionnaire, dict[str, Any]]] = OrderedDict()


def questionnaire_to_fhir(
    questionnaire: Questionnaire, base_url: str, translations: tuple[Questionnaire, ...] = ()
) -> dict[str, Any]:
    """A FHIR R4 Questionnaire resource as a JSON-ready dict.

    Built once per questionnaire object and base URL, then shared: callers must not change it
    (copy first, as `{**resource, ...}`). The key holds the questionnaire itself, so its id()
    cannot be reused while cached; questionnaires are frozen, so the mapping cannot go stale.
    """
    key = (id(questionnaire), base_url, tuple(id(t) for t in translations))
    cached = _mapped.get(key)
    if cached is not None and cached[0] is questionnaire:
        _mapped.move_to_end(key)
        return cached[1]
    resource = _build_questionnaire(questionnaire, base_url)
    for translated in translations:  # the same content in another language: same shape, other texts
        _add_translations(resource, _build_questionnaire(translated, base_url), translated.language)
    _mapped[key] = (questionnaire, resource)
    while len(_mapped) > _CACHE_SIZE:
        _mapped.popitem(last=False)
    return resource


def _build_questionnaire(questionnaire: Questionnaire, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": questionnaire.id,
        "url": questionnaire_url(base_url, questionnaire),
        "version": questionnaire.version,
        "name": _computable_name(questionnaire.id),
        "title": questionnaire.title,
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": questionnaire.publisher,
        "language": questionnaire.language,
    }
    if questionnaire.date is not None:
        resource["date"] = questionnaire.date.isoformat()
    if questionnaire.description:
        resource["description"] = questionnaire.description
    resource["item"] = [_group(questionnaire, step, base_url) for step in questionnaire.steps]
    return resource


def _group(questionnaire: Questionnaire, step: Step, base_url: str) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    if step.intro:
        children.append({"linkId": f"{group_link_id(step)}-intro", "type": "display", "text": step.intro})
    children.extend(_item(questionnaire, item, base_url) for item in step.items)
    return {"linkId": group_link_id(step), "type": "group", "text": step.title, "item": children}


def _item(questionnaire: Questionnaire, item: Item, base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"linkId": item.id, "text": item.text, "type": FHIR_TYPES[item.type]}
    if item.answerable:
        out["required"] = item.required
    if item.type == "multiple_choice":
        out["repeats"] = True
    if item.type == "text":
        out["maxLength"] = item.max_length
    if item.type in CODED_TYPES:
        out["answerOption"] = [
            {"valueCoding": option_coding(base_url, questionnaire, item, code)}
            for code in item.option_codes()
        ]
    if item.enable_when:
        out["enableWhen"] = [
            _enable_when(questionnaire, condition, base_url) for condition in item.enable_when
        ]
        if len(item.enable_when) > 1:  # FHIR requires enableBehavior when there is more than one
            out["enableBehavior"] = item.enable_behavior
    if item.help:
        out["item"] = [
            {
                "linkId": f"{item.id}-help",
                "type": "display",
                "text": item.help,
                "extension": [
                    {
                        "url": ITEM_CONTROL_URL,
                        "valueCodeableConcept": {
                            "coding": [
                                {"system": ITEM_CONTROL_SYSTEM, "code": "help", "display": "Help-Button"}
                            ]
                        },
                    }
                ],
            }
        ]
    return out


def _enable_when(questionnaire: Questionnaire, condition: Condition, base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"question": condition.question, "operator": condition.operator}
    if condition.operator == "exists":
        out["answerBoolean"] = bool(condition.answer)
        return out
    target = questionnaire.item(condition.question)
    code = condition.answer
    if isinstance(code, bool):
        code = "yes" if code else "no"
    out["answerCoding"] = {"system": option_system(base_url, questionnaire, target), "code": code}
    return out


def _add_translations(node: Any, other: Any, language: str) -> None:
    """Beside each text of `node`, the text of the same place in `other`, as a translation."""
    if isinstance(node, dict) and isinstance(other, dict):
        for key in TRANSLATED_KEYS:
            text, translated = node.get(key), other.get(key)
            if isinstance(text, str) and isinstance(translated, str):
                extension = {
                    "url": TRANSLATION_URL,
                    "extension": [
                        {"url": "lang", "valueCode": language},
                        {"url": "content", "valueString": translated},
                    ],
                }
                node.setdefault(f"_{key}", {}).setdefault("extension", []).append(extension)
        for key, value in node.items():
            if not key.startswith("_") and key in other:
                _add_translations(value, other[key], language)
    elif isinstance(node, list) and isinstance(other, list):
        for mine, theirs in zip(node, other, strict=False):
            _add_translations(mine, theirs, language)


def _computable_name(slug: str) -> str:
    """FHIR `name` must look like a code identifier: a-b-c -> ABC."""
    name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", slug) if part)
    return name if name[:1].isalpha() else f"Q{name}"
