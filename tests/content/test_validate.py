"""`sdm questionnaires validate` passes on the shipped content and names file, path and reason
for every problem in broken copies (tests/fixtures/content/broken/<case>/ over mini/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sdm_service.cli import main
from sdm_service.content import ContentError, load_library
from sdm_service.content.schema import EvidenceLibrary, Questionnaire, RuleFile
from sdm_service.settings import PROJECT_ROOT
from tests.conftest import make_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "content"
SHIPPED = PROJECT_ROOT / "questionnaires"


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["questionnaires", *args])
    return result.exit_code, result.stdout, result.stderr


def broken_copy(tmp_path: Path, case: str) -> Path:
    """mini/ with the files of broken/<case>/ laid over it."""
    root = tmp_path / "content"
    shutil.copytree(FIXTURES / "mini", root)
    for path in (FIXTURES / "broken" / case).iterdir():
        shutil.copy(path, root / "mini" / path.name)
    return root


def test_shipped_content_validates() -> None:
    code, out, err = run_cli("validate", "--dir", str(SHIPPED))
    assert code == 0, err
    assert "ok  iort-sdm" in out
    assert "9 steps" in out


def test_mini_fixture_validates() -> None:
    code, out, err = run_cli("validate", "--dir", str(FIXTURES / "mini"))
    assert code == 0, err
    assert "ok  mini 0.1.0" in out


# case -> (file, path, words of the reason) that the report must contain
BROKEN_CASES: dict[str, tuple[str, str, str]] = {
    "condition_unknown_item": (
        "questionnaire.yaml",
        "steps.1.items.3.enable_when.0.question",
        "unknown item 'prio_money'",
    ),
    "condition_unknown_option": (
        "questionnaire.yaml",
        "steps.1.items.3.enable_when.1.answer",
        "'hugely' is not an option of 'prio_cost'",
    ),
    "condition_looks_forward": (
        "questionnaire.yaml",
        "steps.1.items.3.enable_when.0.question",
        "comes later",
    ),
    "duplicate_item_id": ("questionnaire.yaml", "steps.2.items.4.id", "duplicate item id 'sure_a'"),
    "bad_item_type": ("questionnaire.yaml", "steps.0.items.2.type", "'single_choice'"),
    "priority_without_item": ("questionnaire.yaml", "priorities.2", "no importance item"),
    "not_yaml": ("questionnaire.yaml", "line 4", "not valid YAML"),
    "missing_source": ("evidence.yaml", "entries.1.sources", "unknown source id 'SRC-X'"),
    "figure_without_caveat": ("evidence.yaml", "entries.2.caveat", "needs a caveat"),
    "evidence_unknown_cancer": ("evidence.yaml", "entries.2.cancer_types", "unknown cancer type 'lung'"),
    "rule_unknown_item": ("rules.yaml", "points.1.triggers.1.when.0.item", "unknown item 'insurance_state'"),
    "rule_unknown_option": (
        "rules.yaml",
        "points.1.triggers.1.when.0.in",
        "'maybe' is not an option of 'insurance_status'",
    ),
    "rule_unknown_evidence": ("rules.yaml", "points.0.evidence.2", "unknown evidence id 'B9'"),
    "rule_unknown_priority": ("rules.yaml", "points.0.priority", "unknown priority 'fewer_trips'"),
    # Balance is a summary-level rule (issue 13): the grid, per cancer type, each fact once.
    "grid_missing_downside": ("rules.yaml", "summary.grid", "for cancer type 'breast' there is no downside"),
    "grid_breast_only_downside": (
        "rules.yaml",
        "summary.grid",
        "for cancer type 'other' the summary would not show L1",
    ),
    "grid_fact_repeated": ("rules.yaml", "points.0.evidence.0", "'B1' is already in grid row 'visits'"),
    "most_important_without_point": (
        "rules.yaml",
        "points",
        "no point is listed when priority 'cost' is named as mattering most",
    ),
    "answer_never_used": (
        "questionnaire.yaml",
        "steps.1.items.3",
        "'insurance_status' is collected but the summary never uses it",
    ),
    "rule_bad_placeholder": ("rules.yaml", "points.0.triggers.0.why", "unknown placeholder {answr}"),
    "rule_two_tests": ("rules.yaml", "points.1.triggers.1.when.0", "give exactly one of"),
    "rule_unknown_field": ("rules.yaml", "points.0.titel", "unknown field"),
    "rule_unknown_source": ("rules.yaml", "conflict.source", "unknown source id 'SRC-Z'"),
    "rule_role_wrong_type": ("rules.yaml", "roles.own_questions", "this role needs text"),
}


def test_every_broken_fixture_has_a_case() -> None:
    on_disk = {path.name for path in (FIXTURES / "broken").iterdir() if path.is_dir()}
    assert on_disk == {*BROKEN_CASES, "several_problems"}


@pytest.mark.parametrize("case", sorted(BROKEN_CASES))
def test_broken_content_is_reported_with_file_path_and_reason(tmp_path: Path, case: str) -> None:
    file, path, reason = BROKEN_CASES[case]
    code, out, err = run_cli("validate", "--dir", str(broken_copy(tmp_path, case)))
    assert code != 0
    assert "ok " not in out
    lines = err.splitlines()
    matching = [line for line in lines if line.startswith(f"mini/{file}: {path}") and reason in line]
    assert matching, f"expected 'mini/{file}: {path}: ...{reason}...' in:\n{err}"
    assert "problem(s) in" in lines[-1]


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    code, _out, err = run_cli("validate", "--dir", str(broken_copy(tmp_path, "several_problems")))
    assert code != 0
    assert "mini/questionnaire.yaml: steps.2.items.4.id: duplicate item id 'sure_a'" in err
    assert "mini/rules.yaml: points.0.priority: unknown priority 'fewer_trips'" in err
    assert "mini/rules.yaml: points.0.evidence.2: unknown evidence id 'B9'" in err
    assert "4 problem(s)" in err


def test_load_library_raises_with_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as raised:
        load_library(broken_copy(tmp_path, "several_problems"))
    files = {problem.file for problem in raised.value.problems}
    assert files == {"mini/questionnaire.yaml", "mini/rules.yaml"}


def test_app_refuses_to_start_on_invalid_content(tmp_path: Path, sqlite_url: str) -> None:
    from sdm_service.app import create_app

    settings = make_settings(sqlite_url, content_dir=broken_copy(tmp_path, "rule_unknown_evidence"))
    with pytest.raises(ContentError, match="unknown evidence id 'B9'"):
        create_app(settings)


def test_missing_file_and_folder_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(FIXTURES / "mini", root)
    (root / "mini" / "rules.yaml").unlink()
    code, _out, err = run_cli("validate", "--dir", str(root))
    assert code != 0
    assert "mini/rules.yaml: (top): file is missing" in err
    code, _out, err = run_cli("validate", "--dir", str(tmp_path / "nowhere"))
    assert code != 0
    assert "content folder does not exist" in err


def test_folder_name_must_match_questionnaire_id(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(FIXTURES / "mini" / "mini", root / "other")
    code, _out, err = run_cli("validate", "--dir", str(root))
    assert code != 0
    assert "other/questionnaire.yaml: id: must match its folder name 'other'" in err


def _shipped_copy(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "content"
    shutil.copytree(SHIPPED, root)
    rules = yaml.safe_load((root / "iort-sdm" / "rules.yaml").read_text())
    return root, rules


CANCER_TYPES = (
    "breast",
    "soft_tissue_sarcoma",
    "pancreatic",
    "rectal",
    "colon",
    "skin",
    "gynecologic",
    "spine",
)


def test_shipped_grid_without_a_side_effect_fails_for_every_cancer_type(tmp_path: Path) -> None:
    """The summary-level balance check guards the real rules too, for each cancer type."""
    root, rules = _shipped_copy(tmp_path)
    row = next(row for row in rules["summary"]["grid"] if row["id"] == "side_effects")
    row["iort"] = [entry for entry in row["iort"] if entry != "R5"]
    (root / "iort-sdm" / "rules.yaml").write_text(yaml.safe_dump(rules))
    code, _out, err = run_cli("validate", "--dir", str(root))
    assert code != 0
    for cancer in (*CANCER_TYPES, "other"):
        assert f"for cancer type '{cancer}' the summary would not show R5" in err, cancer


def test_shipped_breast_limitation_must_stay_in_the_breast_point(tmp_path: Path) -> None:
    """The ASTRO statement (F4) is a downside only breast patients get: it must be shown to them."""
    root, rules = _shipped_copy(tmp_path)
    point = next(point for point in rules["points"] if point["id"] == "breast_recurrence")
    point["evidence"] = [entry for entry in point["evidence"] if entry != "F4"]
    (root / "iort-sdm" / "rules.yaml").write_text(yaml.safe_dump(rules))
    code, _out, err = run_cli("validate", "--dir", str(root))
    assert code != 0
    assert "for cancer type 'breast' the summary would not show F4" in err
    assert "for cancer type 'colon' the summary would not show F4" not in err


def test_shipped_priority_without_high_trigger_fails(tmp_path: Path) -> None:
    root, rules = _shipped_copy(tmp_path)
    travel = next(point for point in rules["points"] if point["id"] == "travel")
    travel["triggers"] = [t for t in travel["triggers"] if t["when"][0]["item"] != "prio_travel"]
    (root / "iort-sdm" / "rules.yaml").write_text(yaml.safe_dump(rules))
    code, _out, err = run_cli("validate", "--dir", str(root))
    assert code != 0
    assert "no point is listed when priority 'travel' is rated very or extremely important" in err


def test_list_shows_slug_and_version() -> None:
    code, out, _err = run_cli("list", "--dir", str(SHIPPED))
    assert code == 0
    assert out.startswith("iort-sdm\t2.0.0\t")


@pytest.mark.parametrize(
    ("file", "model"),
    [("questionnaire", Questionnaire), ("evidence", EvidenceLibrary), ("rules", RuleFile)],
)
def test_schema_export_describes_each_file(file: str, model: type) -> None:
    code, out, _err = run_cli("schema", file)
    assert code == 0
    exported = json.loads(out)
    assert exported["title"] == model.__name__
    assert set(exported["properties"]) == set(model.model_json_schema(by_alias=True)["properties"])


def test_rules_schema_uses_the_yaml_spelling_in() -> None:
    _code, out, _err = run_cli("schema", "rules")
    condition = json.loads(out)["$defs"]["RuleCondition"]["properties"]
    assert "in" in condition
    assert "in_" not in condition


def test_stored_definition_reads_back_as_the_same_content() -> None:
    """Responses are pinned to a stored copy of the content; it must load back unchanged."""
    content = load_library(SHIPPED).get("iort-sdm")
    definition = json.loads(json.dumps(content.definition()))
    assert Questionnaire.model_validate(definition["questionnaire"]) == content.questionnaire
    assert EvidenceLibrary.model_validate(definition["evidence"]) == content.evidence
    assert RuleFile.model_validate(definition["rules"]) == content.rules
    assert "in_" not in json.dumps(definition["rules"])


def test_every_role_has_an_expected_item_type() -> None:
    from sdm_service.content.checks import ROLE_TYPES
    from sdm_service.content.schema import Roles

    assert set(ROLE_TYPES) == set(Roles.model_fields)
