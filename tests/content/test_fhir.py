"""The FHIR R4 Questionnaire export: valid against the R4B models, and faithful to the content."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire

from sdm_service.cli import main
from sdm_service.content import load_library
from sdm_service.content.fhir import option_system, questionnaire_to_fhir
from sdm_service.content.schema import Questionnaire
from sdm_service.settings import PROJECT_ROOT

BASE = "https://sdm.example.org"


@pytest.fixture(scope="module")
def questionnaire() -> Questionnaire:
    return load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm").questionnaire


@pytest.fixture(scope="module")
def resource(questionnaire: Questionnaire) -> dict[str, Any]:
    return questionnaire_to_fhir(questionnaire, BASE)


def walk(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from walk(item.get("item", []))


def test_validates_as_r4_questionnaire(resource: dict[str, Any]) -> None:
    parsed = FhirQuestionnaire.model_validate(resource)
    assert parsed.id == "iort-sdm"
    assert parsed.status == "active"
    assert parsed.url == f"{BASE}/fhir/Questionnaire/iort-sdm"
    assert parsed.version == "2.0.0"


def test_steps_become_groups_in_order(questionnaire: Questionnaire, resource: dict[str, Any]) -> None:
    groups = resource["item"]
    assert [g["type"] for g in groups] == ["group"] * len(questionnaire.steps)
    assert [g["text"] for g in groups] == [step.title for step in questionnaire.steps]


def test_link_ids_are_unique_and_match_item_ids(
    questionnaire: Questionnaire, resource: dict[str, Any]
) -> None:
    link_ids = [item["linkId"] for item in walk(resource["item"])]
    assert len(link_ids) == len(set(link_ids))
    assert {item.id for item in questionnaire.items()} <= set(link_ids)


def test_every_enable_when_points_to_an_earlier_answerable_item(resource: dict[str, Any]) -> None:
    seen: dict[str, dict[str, Any]] = {}
    conditions = 0
    for item in walk(resource["item"]):
        for condition in item.get("enableWhen", []):
            conditions += 1
            target = seen.get(condition["question"])
            assert target is not None, f"{item['linkId']} depends on unknown or later {condition['question']}"
            assert target["type"] not in ("group", "display")
            if "answerCoding" in condition:
                options = [o["valueCoding"] for o in target["answerOption"]]
                assert {
                    "system": condition["answerCoding"]["system"],
                    "code": condition["answerCoding"]["code"],
                } in [{"system": o["system"], "code": o["code"]} for o in options]
        if len(item.get("enableWhen", [])) > 1:
            assert item["enableBehavior"] in ("all", "any")
        seen[item["linkId"]] = item
    assert conditions > 0


def test_follow_ups_are_enabled_by_very_or_extremely(resource: dict[str, Any]) -> None:
    items = {item["linkId"]: item for item in walk(resource["item"])}
    insurance = items["insurance_status"]
    assert insurance["enableBehavior"] == "any"
    assert [(c["question"], c["operator"], c["answerCoding"]["code"]) for c in insurance["enableWhen"]] == [
        ("prio_cost", "=", "very"),
        ("prio_cost", "=", "extremely"),
    ]
    assert insurance["enableWhen"][0]["answerCoding"]["system"] == f"{BASE}/fhir/CodeSystem/importance"


def test_types_and_options_map(questionnaire: Questionnaire, resource: dict[str, Any]) -> None:
    items = {item["linkId"]: item for item in walk(resource["item"])}
    assert items["cancer_type"]["type"] == "choice"
    assert items["cancer_type"]["required"] is True
    assert [o["valueCoding"]["code"] for o in items["cancer_type"]["answerOption"]] == [
        "breast",
        "soft_tissue_sarcoma",
        "pancreatic",
        "rectal",
        "colon",
        "skin",
        "gynecologic",
        "spine",
        "other",
    ]
    assert items["side_effect_concerns"]["repeats"] is True
    assert items["prio_cost"]["type"] == "choice"
    assert [o["valueCoding"]["code"] for o in items["prio_cost"]["answerOption"]] == [
        "not",
        "a_little",
        "somewhat",
        "very",
        "extremely",
    ]
    assert [o["valueCoding"]["code"] for o in items["sure_sure"]["answerOption"]] == ["yes", "no"]
    assert items["consult_date"]["type"] == "date"
    assert items["consult_date"]["required"] is False
    assert items["own_questions"]["type"] == "text"
    assert items["own_questions"]["maxLength"] == questionnaire.item("own_questions").max_length
    assert items["about_iort"]["type"] == "display"
    assert "required" not in items["about_iort"]


def test_code_systems_are_stable_per_value_set(questionnaire: Questionnaire) -> None:
    prio_a = questionnaire.item("prio_cost")
    prio_b = questionnaire.item("prio_travel")
    assert option_system(BASE, questionnaire, prio_a) == option_system(BASE, questionnaire, prio_b)
    cancer = questionnaire.item("cancer_type")
    assert option_system(BASE, questionnaire, cancer) == f"{BASE}/fhir/CodeSystem/iort-sdm-cancer-type"
    assert option_system(BASE + "/", questionnaire, cancer) == option_system(BASE, questionnaire, cancer)


def test_help_text_is_an_sdc_help_item(resource: dict[str, Any]) -> None:
    items = {item["linkId"]: item for item in walk(resource["item"])}
    help_item = items["cancer_type-help"]
    assert help_item["type"] == "display"
    assert help_item["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "help"


def test_export_is_deterministic(questionnaire: Questionnaire) -> None:
    assert questionnaire_to_fhir(questionnaire, BASE) == questionnaire_to_fhir(questionnaire, BASE)


def test_cli_prints_the_resource_as_json() -> None:
    result = CliRunner().invoke(
        main,
        [
            "questionnaires",
            "export-fhir",
            "iort-sdm",
            "--base-url",
            BASE,
            "--dir",
            str(PROJECT_ROOT / "questionnaires"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["resourceType"] == "Questionnaire"
    FhirQuestionnaire.model_validate(printed)


def test_cli_unknown_slug_fails_clearly() -> None:
    result = CliRunner().invoke(
        main, ["questionnaires", "export-fhir", "nope", "--dir", str(PROJECT_ROOT / "questionnaires")]
    )
    assert result.exit_code != 0
    assert "No questionnaire 'nope' (known: iort-sdm)" in result.stderr


def test_r4b_validation_would_catch_a_bad_item(resource: dict[str, Any]) -> None:
    """Guard the guard: the model check rejects structural mistakes (it does not check codes,
    which the next test does)."""
    from pydantic import ValidationError

    for mutate in (
        lambda r: r["item"][0].pop("linkId"),
        lambda r: r["item"][0].__setitem__("linkID", "typo"),
        lambda r: r["item"][0]["item"][1].__setitem__("required", "maybe"),
    ):
        broken = json.loads(json.dumps(resource))
        mutate(broken)
        with pytest.raises(ValidationError):
            FhirQuestionnaire.model_validate(broken)


# Required bindings of R4 Questionnaire, which fhir.resources does not enforce.
ITEM_TYPES = {
    "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time", "string", "text",
    "url", "choice", "open-choice", "attachment", "reference", "quantity",
}  # fmt: skip
OPERATORS = {"exists", "=", "!=", ">", "<", ">=", "<="}


def test_codes_come_from_the_required_value_sets(resource: dict[str, Any]) -> None:
    assert resource["status"] in {"draft", "active", "retired", "unknown"}
    for item in walk(resource["item"]):
        assert item["type"] in ITEM_TYPES, item["linkId"]
        for condition in item.get("enableWhen", []):
            assert condition["operator"] in OPERATORS
        if "enableBehavior" in item:
            assert item["enableBehavior"] in {"all", "any"}
        if item["type"] in ("group", "display"):
            assert "answerOption" not in item
            assert "required" not in item
