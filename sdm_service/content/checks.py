"""Cross-reference checks that a schema alone cannot express (ids, conditions, sources, rules).

Each problem names its file, the path inside that file and a reason an editor can act on.
"""

from __future__ import annotations

import string
from collections import Counter

from sdm_service.content.checks_files import check_evidence, check_questionnaire
from sdm_service.content.checks_summary import check_summary
from sdm_service.content.problems import EVIDENCE_FILE as E
from sdm_service.content.problems import QUESTIONNAIRE_FILE as Q
from sdm_service.content.problems import RULES_FILE as R
from sdm_service.content.problems import Problem
from sdm_service.content.schema import (
    ALL_CANCERS,
    CANT_SAY,
    CODED_TYPES,
    EvidenceLibrary,
    PointRule,
    Questionnaire,
    RuleFile,
)

# Item types the engine expects for each role (see Roles in schema.py).
ROLE_TYPES: dict[str, str] = {
    "respondent": "single_choice",
    "cancer_type": "single_choice",
    "consult_date": "date",
    "decision_stage": "single_choice",
    "most_important": "single_choice",
    "side_effect_concerns": "multiple_choice",
    "leaning": "single_choice",
    "decision_role": "single_choice",
    "own_questions": "text",
}
WHY_FIELDS = frozenset({"answer"})


def check_content(questionnaire: Questionnaire, evidence: EvidenceLibrary, rules: RuleFile) -> list[Problem]:
    problems: list[Problem] = []
    problems += check_questionnaire(questionnaire)
    problems += check_evidence(evidence)
    problems += _check_rules(questionnaire, evidence, rules)
    return problems


def _item_path(q: Questionnaire, link_id: str) -> str:
    s = q.step_of(link_id)
    i = next(n for n, item in enumerate(q.steps[s].items) if item.id == link_id)
    return f"steps.{s}.items.{i}"


def _check_rules(q: Questionnaire, evidence: EvidenceLibrary, rules: RuleFile) -> list[Problem]:
    problems: list[Problem] = []
    items = {item.id: item for item in q.items()}
    entries = {entry.id: entry for entry in evidence.entries}
    priority_codes = [p.code for p in q.priorities]

    # Roles: the items the engine reads for fixed sections of the summary.
    for role, expected in ROLE_TYPES.items():
        link_id = getattr(rules.roles, role)
        if link_id is None:
            continue  # an optional role that this content does not use
        item = items.get(link_id)
        if item is None:
            problems.append(Problem(R, f"roles.{role}", f"unknown item '{link_id}'"))
        elif item.type != expected:
            problems.append(
                Problem(R, f"roles.{role}", f"'{link_id}' is a {item.type} item; this role needs {expected}")
            )
    cancer_item = items.get(rules.roles.cancer_type)
    cancer_codes: tuple[str, ...] = cancer_item.option_codes() if cancer_item is not None else ()
    most_important = items.get(rules.roles.most_important)
    if most_important is not None and most_important.type == "single_choice":
        path = _item_path(q, most_important.id)
        options = set(most_important.option_codes())
        for code in sorted(options - set(priority_codes) - {CANT_SAY}):
            problems.append(Problem(Q, f"{path}.options", f"'{code}' is not a priority code"))
        for code in priority_codes:
            if code not in options:
                problems.append(
                    Problem(Q, f"{path}.options", f"priority '{code}' is missing from the options")
                )

    # Evidence may be limited to cancer types the questionnaire knows.
    if cancer_codes:
        for i, entry in enumerate(evidence.entries):
            for code in entry.cancer_types:
                if code != ALL_CANCERS and code not in cancer_codes:
                    problems.append(Problem(E, f"entries.{i}.cancer_types", f"unknown cancer type '{code}'"))

    # Conflict screen.
    if rules.conflict.source not in {source.id for source in evidence.sources}:
        problems.append(Problem(R, "conflict.source", f"unknown source id '{rules.conflict.source}'"))
    for c, screen_item in enumerate(rules.conflict.items):
        item = items.get(screen_item.item)
        if item is None:
            problems.append(Problem(R, f"conflict.items.{c}.item", f"unknown item '{screen_item.item}'"))
        elif item.type != "yes_no":
            problems.append(
                Problem(
                    R,
                    f"conflict.items.{c}.item",
                    f"'{item.id}' is a {item.type} item; the screen needs yes_no",
                )
            )
    for link_id, count in Counter(si.item for si in rules.conflict.items).items():
        if count > 1:
            problems.append(Problem(R, "conflict.items", f"item '{link_id}' is listed more than once"))
    if rules.conflict.flag_at_or_below > len(rules.conflict.items):
        problems.append(Problem(R, "conflict.flag_at_or_below", "is higher than the number of screen items"))

    # Points.
    for point_id, count in Counter(point.id for point in rules.points).items():
        if count > 1:
            problems.append(Problem(R, "points", f"duplicate point id '{point_id}'"))
    for n, point in enumerate(rules.points):
        path = f"points.{n}"
        if point.priority is not None and point.priority not in priority_codes:
            problems.append(Problem(R, f"{path}.priority", f"unknown priority '{point.priority}'"))
        for code in point.cancer_types:
            if code != ALL_CANCERS and cancer_codes and code not in cancer_codes:
                problems.append(Problem(R, f"{path}.cancer_types", f"unknown cancer type '{code}'"))
        for t, trigger in enumerate(point.triggers):
            tpath = f"{path}.triggers.{t}"
            for c, condition in enumerate(trigger.when):
                cpath = f"{tpath}.when.{c}"
                item = items.get(condition.item)
                if item is None:
                    problems.append(Problem(R, f"{cpath}.item", f"unknown item '{condition.item}'"))
                    continue
                if not item.answerable:
                    problems.append(
                        Problem(R, f"{cpath}.item", f"'{item.id}' is display text and has no answer")
                    )
                    continue
                if condition.answered is None and item.type not in CODED_TYPES:
                    problems.append(
                        Problem(
                            R,
                            f"{cpath}.item",
                            f"'{item.id}' is a {item.type} item; only 'answered' can test it",
                        )
                    )
                    continue
                test = "in" if condition.in_ is not None else "not_in"
                for code in condition.codes():
                    if code not in item.option_codes():
                        problems.append(
                            Problem(R, f"{cpath}.{test}", f"'{code}' is not an option of '{item.id}'")
                        )
            problems += _check_template(trigger.why, f"{tpath}.why")
        for e, entry_id in enumerate(point.evidence):
            if entry_id not in entries:
                problems.append(Problem(R, f"{path}.evidence.{e}", f"unknown evidence id '{entry_id}'"))
        for a, by_answer in enumerate(point.evidence_by_answer):
            apath = f"{path}.evidence_by_answer.{a}"
            item = items.get(by_answer.item)
            if item is None:
                problems.append(Problem(R, f"{apath}.item", f"unknown item '{by_answer.item}'"))
            elif item.type not in CODED_TYPES:
                problems.append(
                    Problem(R, f"{apath}.item", f"'{item.id}' is a {item.type} item without codes")
                )
            else:
                for code in by_answer.map:
                    if code not in item.option_codes():
                        problems.append(
                            Problem(R, f"{apath}.map.{code}", f"'{code}' is not an option of '{item.id}'")
                        )
            for code, ids in [*by_answer.map.items(), ("otherwise", by_answer.otherwise)]:
                for entry_id in ids:
                    if entry_id not in entries:
                        problems.append(
                            Problem(
                                R,
                                f"{apath}.map.{code}" if code != "otherwise" else f"{apath}.otherwise",
                                f"unknown evidence id '{entry_id}'",
                            )
                        )
    if problems:
        return problems  # the checks below need every reference to resolve

    cancer_choices: list[str | None] = [*cancer_codes, None]
    for n, point in enumerate(rules.points):
        for cancer in cancer_choices:
            if not point.applies_to(cancer):
                continue
            shown = [
                entries[entry_id]
                for entry_id in _all_evidence_ids(point)
                if entries[entry_id].applies_to(cancer)
            ]
            if not shown and _all_evidence_ids(point) and not point.rows:
                problems.append(
                    Problem(
                        R,
                        f"points.{n}.evidence",
                        f"no evidence applies for cancer type {_cancer_name(cancer)}",
                    )
                )
                break
    problems += check_summary(q, evidence, rules, cancer_choices)
    return problems


def _check_template(text: str, path: str) -> list[Problem]:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return [Problem(R, path, f"bad placeholder: {exc}; write {{answer}}, or double a literal brace")]
    unknown = sorted(set(fields) - WHY_FIELDS)
    return [Problem(R, path, f"unknown placeholder {{{name}}}; only {{answer}} is known") for name in unknown]


def _all_evidence_ids(point: PointRule) -> list[str]:
    ids = list(point.evidence)
    for by_answer in point.evidence_by_answer:
        for group in [*by_answer.map.values(), by_answer.otherwise]:
            ids.extend(group)
    return ids


def _cancer_name(cancer: str | None) -> str:
    return f"'{cancer}'" if cancer is not None else "(not given)"
