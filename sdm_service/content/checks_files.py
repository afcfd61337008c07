"""Checks of questionnaire.yaml and evidence.yaml on their own (ids, options, conditions, sources)."""

from __future__ import annotations

from collections import Counter

from sdm_service.content.problems import EVIDENCE_FILE as E
from sdm_service.content.problems import QUESTIONNAIRE_FILE as Q
from sdm_service.content.problems import Problem
from sdm_service.content.schema import CODED_TYPES, DEFAULT_ANSWER_LABELS, EvidenceLibrary, Questionnaire


def check_questionnaire(q: Questionnaire) -> list[Problem]:
    problems: list[Problem] = []
    if len(q.languages) > 1 and "answer_labels" not in q.model_fields_set:
        languages = ", ".join(q.languages)
        problems.append(Problem(Q, "answer_labels", f"give the answer scale labels in {languages}"))
    for code in sorted(set(DEFAULT_ANSWER_LABELS) - set(q.answer_labels)):
        problems.append(Problem(Q, "answer_labels", f"missing the label of '{code}'"))
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


def check_evidence(evidence: EvidenceLibrary) -> list[Problem]:
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
