"""Every patient-facing text comes in every declared language: the validator refuses a missing or
empty translation and names the file and path; the language fallback rules; Spanish reads easily."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import textstat
import yaml
from click.testing import CliRunner

from sdm_service.cli import main
from sdm_service.content import Content, ContentError, load_library
from sdm_service.content.localized import choose_language, pick_language
from sdm_service.settings import PROJECT_ROOT
from tests.content.test_content_quality import STEP_IDS, _sentence, step_text

SHIPPED = PROJECT_ROOT / "questionnaires"
MIN_SZIGRISZT = 65.0  # INFLESZ "bastante fácil"


def edited_copy(tmp_path: Path, file: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    root = tmp_path / "content"
    shutil.copytree(SHIPPED / "iort-sdm", root / "iort-sdm")
    path = root / "iort-sdm" / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return root


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_library(root)
    return [str(problem) for problem in caught.value.problems]


def test_a_missing_spanish_text_is_named_with_its_file_and_path(tmp_path: Path) -> None:
    def drop_es(data: dict[str, Any]) -> None:
        del data["steps"][0]["items"][1]["text"]["es"]

    problems = problems_of(edited_copy(tmp_path, "questionnaire.yaml", drop_es))
    assert problems == ["iort-sdm/questionnaire.yaml: steps.0.items.1.text: missing or empty translation: es"]


def test_an_empty_translation_of_an_evidence_statement_is_refused(tmp_path: Path) -> None:
    def blank(data: dict[str, Any]) -> None:
        data["entries"][0]["statement"]["es"] = "   "

    problems = problems_of(edited_copy(tmp_path, "evidence.yaml", blank))
    assert problems == ["iort-sdm/evidence.yaml: entries.0.statement: missing or empty translation: es"]


def test_a_text_in_one_language_only_is_refused_in_rules(tmp_path: Path) -> None:
    def plain(data: dict[str, Any]) -> None:
        data["points"][0]["triggers"][0]["why"] = "Only English here."
        data["summary"]["options"][1] = {"en": "IORT plus EBRT", "es": ""}

    problems = problems_of(edited_copy(tmp_path, "rules.yaml", plain))
    assert "iort-sdm/rules.yaml: points.0.triggers.0.why: give this text in every language" in problems[1]
    assert problems[0] == "iort-sdm/rules.yaml: summary.options.1: missing or empty translation: es"


def test_the_answer_scale_labels_must_be_given_in_every_language(tmp_path: Path) -> None:
    def drop(data: dict[str, Any]) -> None:
        del data["answer_labels"]

    problems = problems_of(edited_copy(tmp_path, "questionnaire.yaml", drop))
    assert problems == ["iort-sdm/questionnaire.yaml: answer_labels: give the answer scale labels in en, es"]


def test_a_third_language_is_data_only(tmp_path: Path) -> None:
    """Declaring a language the texts lack names every text; giving them makes it load."""

    def declare(data: dict[str, Any]) -> None:
        data["languages"] = ["en", "es", "fr"]

    problems = problems_of(edited_copy(tmp_path, "questionnaire.yaml", declare))
    assert "iort-sdm/questionnaire.yaml: title: missing or empty translation: fr" in problems
    assert len(problems) > 100  # every text of the questionnaire, one line each


def test_the_validate_command_names_the_missing_translation(tmp_path: Path) -> None:
    def drop_es(data: dict[str, Any]) -> None:
        del data["disclaimer"]["es"]

    root = edited_copy(tmp_path, "rules.yaml", drop_es)
    result = CliRunner().invoke(main, ["questionnaires", "validate", "--dir", str(root)])
    assert result.exit_code != 0
    assert "rules.yaml: disclaimer: missing or empty translation: es" in result.stderr


def test_fallback_rules() -> None:
    assert choose_language(("en", "es"), "es-MX") == "es"
    assert choose_language(("en", "es"), "es_US") == "es"
    assert choose_language(("en", "es"), "fr") == "en"
    assert choose_language(("en", "es"), None) == "en"
    assert choose_language(("es",), "en") == "es"
    assert pick_language({"en": "Hello", "es": "Hola"}, "es") == "Hola"
    assert pick_language({"en": "Hello", "es": ""}, "es") == "Hello"


# --- Reading level of the Spanish text (Szigriszt-Pazos perspicuity, INFLESZ) -----------------


@pytest.fixture(scope="module")
def spanish() -> Content:
    return load_library(SHIPPED).get("iort-sdm").in_language("es")


def szigriszt(text: str) -> float:
    textstat.set_lang("es")
    try:
        return float(textstat.szigriszt_pazos(text))
    finally:
        textstat.set_lang("en_US")


def test_spanish_content_is_really_spanish(spanish: Content) -> None:
    english = load_library(SHIPPED).get("iort-sdm")
    assert spanish.language == "es"
    pairs = zip(spanish.questionnaire.items(), english.questionnaire.items(), strict=True)
    assert all(es.text != en.text for es, en in pairs)


@pytest.mark.parametrize("step_id", STEP_IDS)
def test_each_spanish_step_reads_bastante_facil(spanish: Content, step_id: str) -> None:
    step = next(s for s in spanish.questionnaire.steps if s.id == step_id)
    score = szigriszt(step_text(spanish, step))
    print(f"Szigriszt-Pazos of Spanish step '{step_id}': {score:.1f}")
    assert score >= MIN_SZIGRISZT, f"step '{step_id}' scores {score:.1f}"


def test_spanish_evidence_and_summary_texts_read_bastante_facil(spanish: Content) -> None:
    evidence = " ".join(
        " ".join(filter(None, [entry.statement, entry.caveat])) for entry in spanish.evidence.entries
    )
    rules = spanish.rules
    parts = [rules.disclaimer, rules.conflict.meaning.ready, rules.conflict.meaning.flagged]
    parts += [rules.summary.short_disclaimer, rules.summary.decision, rules.summary.equal_ratings]
    for point in rules.points:
        parts.append(_sentence(point.title))
        parts += list(point.questions)
        parts += [trigger.why.replace("{answer}", "Muy importante") for trigger in point.triggers]
    for name, text in (("evidence", evidence), ("summary texts", " ".join(parts))):
        score = szigriszt(text)
        print(f"Szigriszt-Pazos of Spanish {name}: {score:.1f}")
        assert score >= MIN_SZIGRISZT, f"{name}: {score:.1f}"


def test_szigriszt_measure_can_fail() -> None:
    dense = (
        "La administración intraoperatoria de radioterapia constituye una modalidad terapéutica "
        "caracterizada por la concentración dosimétrica sobre el lecho tumoral identificado."
    )
    assert szigriszt(dense) < MIN_SZIGRISZT
