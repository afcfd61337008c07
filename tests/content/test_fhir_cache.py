"""The mapped FHIR Questionnaire is built once per questionnaire and base URL, then reused."""

from __future__ import annotations

from sdm_service.content import load_library
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.schema import Questionnaire
from sdm_service.settings import PROJECT_ROOT


def test_the_mapping_is_reused_for_the_same_questionnaire_and_base_url() -> None:
    questionnaire = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm").questionnaire
    first = questionnaire_to_fhir(questionnaire, "https://a.example.org")
    assert questionnaire_to_fhir(questionnaire, "https://a.example.org") is first
    other_base = questionnaire_to_fhir(questionnaire, "https://b.example.org")
    assert other_base["url"] == "https://b.example.org/fhir/Questionnaire/iort-sdm"
    assert first["url"] == "https://a.example.org/fhir/Questionnaire/iort-sdm"


def test_an_equal_copy_maps_to_the_same_resource() -> None:
    questionnaire = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm").questionnaire
    copy = Questionnaire.model_validate(questionnaire.model_dump())
    assert questionnaire_to_fhir(copy, "https://a.example.org") == questionnaire_to_fhir(
        questionnaire, "https://a.example.org"
    )
