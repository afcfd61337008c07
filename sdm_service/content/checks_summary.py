"""Summary-level checks: the grid, balance and coverage per cancer type, "matters most", unused answers.

Balance is a property of the whole summary, not of each point: for every cancer type, the grid
(with the points every patient of that type gets) must show every benefit, limitation and side
effect that applies, each fact once, with at least one good side and one downside.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sdm_service.content.logic import trigger_fires
from sdm_service.content.problems import QUESTIONNAIRE_FILE as Q
from sdm_service.content.problems import RULES_FILE as R
from sdm_service.content.problems import Problem
from sdm_service.content.schema import (
    ALL_CANCERS,
    HIGH_IMPORTANCE,
    EvidenceEntry,
    EvidenceLibrary,
    Questionnaire,
    RuleFile,
)

# Kinds the summary must show in full: every good side, every downside, every side effect.
SHOWN_IN_FULL = frozenset({"benefit", "limitation", "risk"})
DOWNSIDE_KINDS = frozenset({"limitation", "risk"})


def cancer_name(cancer: str | None) -> str:
    return f"'{cancer}'" if cancer is not None else "(not given)"


def check_summary(
    q: Questionnaire, evidence: EvidenceLibrary, rules: RuleFile, cancer_choices: Iterable[str | None]
) -> list[Problem]:
    entries = {entry.id: entry for entry in evidence.entries}
    problems = _check_grid_references(q, rules, entries)
    if problems:
        return problems
    for cancer in cancer_choices:
        problems += _check_cancer_type(rules, entries, cancer, q)
    problems += _check_priority_points(q, rules)
    problems += _check_unused_answers(q, rules)
    return problems


def _check_grid_references(
    q: Questionnaire, rules: RuleFile, entries: dict[str, EvidenceEntry]
) -> list[Problem]:
    problems: list[Problem] = []
    summary = rules.summary
    priorities = {p.code for p in q.priorities}
    for row_id, count in Counter(row.id for row in summary.grid).items():
        if count > 1:
            problems.append(Problem(R, "summary.grid", f"duplicate grid row id '{row_id}'"))
    placed: dict[str, str] = {}
    for r, row in enumerate(summary.grid):
        path = f"summary.grid.{r}"
        if row.priority is not None and row.priority not in priorities:
            problems.append(Problem(R, f"{path}.priority", f"unknown priority '{row.priority}'"))
        if not row.ebrt and not row.ebrt_note:
            problems.append(
                Problem(R, path, "the EBRT side is empty; cite evidence in 'ebrt' or write an 'ebrt_note'")
            )
        for side in ("iort", "ebrt"):
            for e, entry_id in enumerate(getattr(row, side)):
                if entry_id not in entries:
                    problems.append(Problem(R, f"{path}.{side}.{e}", f"unknown evidence id '{entry_id}'"))
                elif entry_id in placed:
                    problems.append(
                        Problem(
                            R,
                            f"{path}.{side}.{e}",
                            f"'{entry_id}' is already in grid row '{placed[entry_id]}'; "
                            "each fact appears once",
                        )
                    )
                else:
                    placed[entry_id] = row.id
    if summary.options_source is not None and summary.options_source not in entries:
        problems.append(
            Problem(R, "summary.options_source", f"unknown evidence id '{summary.options_source}'")
        )
    concerns = next((i for i in q.items() if i.id == rules.roles.side_effect_concerns), None)
    for code, entry_id in summary.worries.items():
        if concerns is not None and code not in concerns.option_codes():
            problems.append(
                Problem(R, f"summary.worries.{code}", f"'{code}' is not an option of '{concerns.id}'")
            )
        if entry_id not in entries or entries[entry_id].kind != "risk":
            problems.append(
                Problem(R, f"summary.worries.{code}", f"'{entry_id}' is not a risk in evidence.yaml")
            )
    if summary.first_questions > summary.max_questions:
        problems.append(Problem(R, "summary.first_questions", "is more than max_questions"))
    row_ids = {row.id for row in summary.grid}
    for n, point in enumerate(rules.points):
        for k, row_id in enumerate(point.rows):
            if row_id not in row_ids:
                problems.append(Problem(R, f"points.{n}.rows.{k}", f"unknown grid row '{row_id}'"))
        for e, entry_id in enumerate(point.evidence):
            if entry_id in placed:
                problems.append(
                    Problem(
                        R,
                        f"points.{n}.evidence.{e}",
                        f"'{entry_id}' is already in grid row '{placed[entry_id]}'; refer to the row "
                        f"with rows: [{placed[entry_id]}] instead of repeating the fact",
                    )
                )
    return problems


def _check_cancer_type(
    rules: RuleFile, entries: dict[str, EvidenceEntry], cancer: str | None, q: Questionnaire
) -> list[Problem]:
    """For one cancer type: nothing that applies is left out, no grid row is empty, and balance."""
    problems: list[Problem] = []
    shown: set[str] = set()
    for r, row in enumerate(rules.summary.grid):
        iort = [i for i in row.iort if entries[i].applies_to(cancer)]
        if not iort:
            problems.append(
                Problem(R, f"summary.grid.{r}.iort", f"no fact applies for cancer type {cancer_name(cancer)}")
            )
        shown.update(iort)
        shown.update(i for i in row.ebrt if entries[i].applies_to(cancer))
    if cancer is not None:
        only_cancer = {rules.roles.cancer_type: cancer}
        for point in rules.points:
            if point.applies_to(cancer) and any(trigger_fires(t, only_cancer) for t in point.triggers):
                shown.update(i for i in point.evidence if entries[i].applies_to(cancer))
    must = [e.id for e in entries.values() if e.kind in SHOWN_IN_FULL and e.applies_to(cancer)]
    missing = [entry_id for entry_id in must if entry_id not in shown]
    if missing:
        problems.append(
            Problem(
                R,
                "summary.grid",
                f"for cancer type {cancer_name(cancer)} the summary would not show {', '.join(missing)}; "
                "every benefit, limitation and side effect that applies must be in a grid row "
                "(or in a point every patient with that cancer type gets)",
            )
        )
    kinds = {entries[i].kind for i in shown}
    if "benefit" not in kinds:
        problems.append(
            Problem(R, "summary.grid", f"for cancer type {cancer_name(cancer)} there is no good side")
        )
    if not kinds & DOWNSIDE_KINDS:
        problems.append(
            Problem(R, "summary.grid", f"for cancer type {cancer_name(cancer)} there is no downside")
        )
    return problems


def _check_priority_points(q: Questionnaire, rules: RuleFile) -> list[Problem]:
    """Each priority gets a point (for every cancer type) when rated high and when named as mattering most."""
    problems: list[Problem] = []
    importance = {item.priority: item.id for item in q.items() if item.type == "importance" and item.priority}
    most = rules.roles.most_important
    for priority in q.priorities:
        item_id = importance.get(priority.code)
        if item_id is None:
            continue  # reported with the questionnaire
        cases = {
            "rated very or extremely important": ({item_id: rating} for rating in sorted(HIGH_IMPORTANCE)),
            "named as mattering most": iter([{most: priority.code}]),
        }
        for case, answer_sets in cases.items():
            listed = all(
                any(
                    point.priority == priority.code
                    and ALL_CANCERS in point.cancer_types
                    and any(trigger_fires(t, answers) for t in point.triggers)
                    for point in rules.points
                )
                for answers in answer_sets
            )
            if not listed:
                problems.append(
                    Problem(
                        R,
                        "points",
                        f"no point is listed when priority '{priority.code}' is {case}; add a point with "
                        f"priority: {priority.code} and a trigger on "
                        f"'{item_id if 'rated' in case else most}'",
                    )
                )
    return problems


def _check_unused_answers(q: Questionnaire, rules: RuleFile) -> list[Problem]:
    """Every answer the questionnaire collects is used by the summary; otherwise do not ask it."""
    used = {getattr(rules.roles, role) for role in type(rules.roles).model_fields}
    used.update(item.item for item in rules.conflict.items)
    for point in rules.points:
        used.update(c.item for t in point.triggers for c in t.when)
        used.update(a.item for a in point.evidence_by_answer)
    problems = []
    for s, step in enumerate(q.steps):
        for i, item in enumerate(step.items):
            if not item.answerable or item.id in used or item.type == "importance" or item.correct:
                continue
            problems.append(
                Problem(
                    Q,
                    f"steps.{s}.items.{i}",
                    f"the answer to '{item.id}' is collected but the summary never uses it; "
                    "use it in rules.yaml (a trigger or a role) or remove the item",
                )
            )
    return problems
