"""Cross-reference checks that a schema alone cannot express (ids, conditions, sources, rules).

Each problem names its file, the path inside that file and a reason an editor can act on.
"""

from __future__ import annotations

import itertools
import string
from collections import Counter
from collections.abc import Iterable

from sdm_service.content.loader import Problem
from sdm_service.content.schema import (
    ALL_CANCERS,
    HIGH_IMPORTANCE,
    EvidenceEntry,
    EvidenceLibrary,
    Item,
    PointRule,
    Questionnaire,
    RuleFile,
)

Q = "questionnaire.yaml"
E = "evidence.yaml"
R = "rules.yaml"

# Item types the engine expects for each role (see Roles in schema.py).
ROLE_TYPES: dict[str, str] = {
    "respondent": "single_choice",
    "cancer_type": "single_choice",
    "consult_date": "date",
    "most_important": "single_choice",
    "side_effect_concerns": "multiple_choice",
    "leaning": "single_choice",
    "decision_role": "single_choice",
    "own_questions": "text",
}
CODED_TYPES = frozenset({"single_choice", "multiple_choice", "importance", "yes_no"})
BALANCING_KINDS = frozenset({"limitation", "risk"})
WHY_FIELDS = frozenset({"answer"})


def check_content(questionnaire: Questionnaire, evidence: EvidenceLibrary, rules: RuleFile) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_questionnaire(questionnaire)
    problems += _check_evidence(evidence)
    problems += _check_rules(questionnaire, evidence, rules)
    return problems


def _check_questionnaire(q: Questionnaire) -> list[Problem]:
    problems: list[Problem] = []
    step_ids = Counter(step.id for step in q.steps)
    for step_id, count in step_ids.items():
        if count > 1:
            problems.append(Problem(Q, "steps", f"duplicate step id '{step_id}'"))
    seen: dict[str, int] = {}
    priority_codes = {p.code for p in q.priorities}
    for s, step in enumerate(q.steps):
        for i, item in enumerate(step.items):
            path = f"steps.{s}.items.{i}"
            if item.id in seen:
                problems.append(Problem(Q, f"{path}.id", f"duplicate item id '{item.id}'"))
            if item.type in ("single_choice", "multiple_choice"):
                if len(item.options) < 2:
                    problems.append(Problem(Q, f"{path}.options", "a choice item needs at least two options"))
                codes = Counter(o.code for o in item.options)
                for code, count in codes.items():
                    if count > 1:
                        problems.append(Problem(Q, f"{path}.options", f"duplicate option code '{code}'"))
            elif item.options:
                problems.append(Problem(Q, f"{path}.options", f"a {item.type} item takes no options"))
            if item.type == "importance" and item.priority not in priority_codes:
                problems.append(
                    Problem(
                        Q, f"{path}.priority", f"unknown priority '{item.priority}' for an importance item"
                    )
                )
            if item.type != "importance" and item.priority is not None:
                problems.append(Problem(Q, f"{path}.priority", "only an importance item measures a priority"))
            if item.type == "display" and item.required:
                problems.append(Problem(Q, f"{path}.required", "a display item cannot be required"))
            if item.date_range is not None and item.type != "date":
                problems.append(Problem(Q, f"{path}.date_range", "only a date item takes a date_range"))
            if item.date_range is not None and item.date_range.min_days > item.date_range.max_days:
                problems.append(Problem(Q, f"{path}.date_range", "min_days is after max_days"))
            for c, condition in enumerate(item.enable_when):
                cpath = f"{path}.enable_when.{c}"
                if condition.question not in seen:
                    reason = (
                        "refers to an item that comes later; conditions may only look back"
                        if any(condition.question == other.id for other in q.items())
                        else f"unknown item '{condition.question}' in condition"
                    )
                    problems.append(Problem(Q, f"{cpath}.question", reason))
                    continue
                target = q.item(condition.question)
                if not target.answerable:
                    problems.append(
                        Problem(Q, f"{cpath}.question", f"'{target.id}' is display text and has no answer")
                    )
                elif condition.operator == "exists" and not isinstance(condition.answer, bool):
                    problems.append(
                        Problem(Q, f"{cpath}.answer", "an 'exists' condition takes true or false")
                    )
                elif condition.operator != "exists" and target.type not in CODED_TYPES:
                    problems.append(
                        Problem(
                            Q,
                            f"{cpath}.operator",
                            f"'{target.id}' is a {target.type} item; only 'exists' can test it",
                        )
                    )
                elif (
                    condition.operator != "exists"
                    and isinstance(condition.answer, str)
                    and condition.answer not in target.option_codes()
                ):
                    problems.append(
                        Problem(
                            Q,
                            f"{cpath}.answer",
                            f"'{condition.answer}' is not an option of '{target.id}'",
                        )
                    )
            if item.correct and item.type != "single_choice":
                problems.append(
                    Problem(Q, f"{path}.correct", "only a single-choice item can have a correct answer")
                )
            for code in item.correct:
                if code not in item.option_codes():
                    problems.append(
                        Problem(Q, f"{path}.correct", f"'{code}' is not one of this item's options")
                    )
            seen[item.id] = s
    for code, count in Counter(priority.code for priority in q.priorities).items():
        if count > 1:
            problems.append(Problem(Q, "priorities", f"duplicate priority code '{code}'"))
    measured = Counter(item.priority for item in q.items() if item.type == "importance")
    for p, priority in enumerate(q.priorities):
        if measured[priority.code] == 0:
            problems.append(
                Problem(Q, f"priorities.{p}", f"no importance item asks about priority '{priority.code}'")
            )
        elif measured[priority.code] > 1:
            problems.append(
                Problem(Q, f"priorities.{p}", f"more than one importance item asks about '{priority.code}'")
            )
    return problems


def _check_evidence(evidence: EvidenceLibrary) -> list[Problem]:
    problems: list[Problem] = []
    source_ids = {source.id for source in evidence.sources}
    for source_id, count in Counter(source.id for source in evidence.sources).items():
        if count > 1:
            problems.append(Problem(E, "sources", f"duplicate source id '{source_id}'"))
    for entry_id, count in Counter(entry.id for entry in evidence.entries).items():
        if count > 1:
            problems.append(Problem(E, "entries", f"duplicate evidence id '{entry_id}'"))
    for i, entry in enumerate(evidence.entries):
        for source in entry.sources:
            if source not in source_ids:
                problems.append(Problem(E, f"entries.{i}.sources", f"unknown source id '{source}'"))
        if entry.kind == "figure" and not entry.caveat:
            problems.append(
                Problem(
                    E,
                    f"entries.{i}.caveat",
                    "a figure needs a caveat (results differ by technique and patient)",
                )
            )
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
        for code in sorted(options - set(priority_codes)):
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
            if not shown:
                problems.append(
                    Problem(
                        R,
                        f"points.{n}.evidence",
                        f"no evidence applies for cancer type {_cancer_name(cancer)}",
                    )
                )
                break
    problems += _check_balance(q, rules, entries, cancer_choices)
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


def _check_balance(
    q: Questionnaire,
    rules: RuleFile,
    entries: dict[str, EvidenceEntry],
    cancer_choices: Iterable[str | None],
) -> list[Problem]:
    """Every priority rated very or extremely important must list a balanced point.

    The point must fire on that rating alone, and for every cancer type and every branch of its
    answer-dependent evidence it must cite a benefit and a limitation or risk.
    """
    problems: list[Problem] = []
    cancer_choices = list(cancer_choices)
    importance_items: dict[str, Item] = {
        item.priority: item for item in q.items() if item.type == "importance" and item.priority
    }
    for priority in q.priorities:
        item = importance_items.get(priority.code)
        if item is None:
            continue  # reported with the questionnaire
        candidates = [
            (n, point)
            for n, point in enumerate(rules.points)
            if point.priority == priority.code
            and ALL_CANCERS in point.cancer_types
            and any(
                len(trigger.when) == 1
                and trigger.when[0].item == item.id
                and set(trigger.when[0].in_ or ()) >= HIGH_IMPORTANCE
                for trigger in point.triggers
            )
        ]
        if not candidates:
            problems.append(
                Problem(
                    R,
                    "points",
                    f"no point is listed when priority '{priority.code}' is rated very or extremely "
                    f"important; add one with priority: {priority.code} and a trigger "
                    f"{{item: {item.id}, in: [very, extremely]}}",
                )
            )
            continue
        for n, point in candidates:
            branches = [
                [*by_answer.map.values(), by_answer.otherwise] for by_answer in point.evidence_by_answer
            ]
            gap = _balance_gap(point, branches, entries, cancer_choices)
            if gap:
                problems.append(
                    Problem(
                        R,
                        f"points.{n}.evidence",
                        f"priority point '{point.id}' must cite at least one benefit and one limitation "
                        f"or risk for every cancer type; {gap}",
                    )
                )
    return problems


def _balance_gap(
    point: PointRule,
    branches: list[list[tuple[str, ...]]],
    entries: dict[str, EvidenceEntry],
    cancer_choices: list[str | None],
) -> str | None:
    for cancer in cancer_choices:
        for combination in itertools.product(*branches):
            ids = [*point.evidence, *(entry_id for group in combination for entry_id in group)]
            kinds = {entries[i].kind for i in ids if entries[i].applies_to(cancer)}
            if "benefit" not in kinds:
                return f"for cancer type {_cancer_name(cancer)} it has no benefit"
            if not kinds & BALANCING_KINDS:
                return f"for cancer type {_cancer_name(cancer)} it has no limitation or risk"
    return None
