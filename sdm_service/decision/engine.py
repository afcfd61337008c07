"""From a completed answer set to the summary snapshot: ranked priorities, the conflict screen and
the discussion points that rules.yaml asks for. Pure and deterministic: no I/O, no clock, no
randomness; the same content and answers always give an equal snapshot.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from sdm_service.content.loader import Content
from sdm_service.content.logic import answer_codes, condition_holds, enabled_answers, trigger_fires
from sdm_service.content.schema import (
    IMPORTANCE_RANK,
    EvidenceLibrary,
    Item,
    PointRule,
    Questionnaire,
    RuleFile,
    Trigger,
)
from sdm_service.decision import layout
from sdm_service.decision.snapshot import (
    AnswerLine,
    ConflictItem,
    ConflictResult,
    DiscussionPoint,
    EvidenceCitation,
    GridRow,
    LabelledAnswer,
    PatientInfo,
    RankedPriority,
    StepAnswers,
    SummarySnapshot,
)

__all__ = ["build_summary", "condition_holds", "discussion_points", "rank_priorities", "trigger_fires"]
from babel.lists import format_list

from sdm_service.plain_dates import long_date


def build_summary(
    content: Content,
    answers: Mapping[str, Any],
    *,
    response_id: str,
    completed_at: datetime,
    patient: PatientInfo,
    consult_date: date | None,
    clinic_name: str,
    funding_note: str | None = None,
) -> SummarySnapshot:
    """Compute the snapshot for one completed response (only answers that apply are used)."""
    questionnaire = content.questionnaire
    rules = content.rules
    roles = rules.roles
    kept = enabled_answers(questionnaire, answers)
    cancer_type = _code(kept.get(roles.cancer_type))
    priorities = rank_priorities(questionnaire, kept, most_important_item=roles.most_important)
    points = discussion_points(questionnaire, content.evidence, rules, kept, priorities, cancer_type)
    questions, points = layout.number_questions(points, rules.summary.max_questions)
    worries = layout.worried_risks(rules, kept)
    grid = layout.grid_rows(content.evidence, rules, cancer_type, worries, priorities)
    options = layout.options(content.evidence, rules)
    conflict = conflict_result(rules, kept)
    most_important = next((p.code for p in priorities if p.most_important), None)
    # The clinic's date (from the invitation) wins over the one the patient typed.
    visit = consult_date if consult_date is not None else _answer_date(kept.get(roles.consult_date))
    return SummarySnapshot(
        response_id=response_id,
        questionnaire_slug=questionnaire.slug,
        questionnaire_version=questionnaire.version,
        questionnaire_title=questionnaire.title,
        clinic_name=clinic_name,
        patient=patient,
        respondent=_labelled(questionnaire, roles.respondent, kept),
        cancer_type=_labelled(questionnaire, roles.cancer_type, kept),
        completed_at=_utc_iso(completed_at),
        consult_date=visit.isoformat() if visit is not None else None,
        priorities=tuple(priorities),
        most_important=most_important,
        discussion_points=tuple(points),
        side_effect_concerns=tuple(
            concern
            for concern in _labelled_many(questionnaire, roles.side_effect_concerns, kept)
            if concern.code in rules.summary.worries
        ),
        leaning=_labelled(questionnaire, roles.leaning, kept),
        decision_role=_labelled(questionnaire, roles.decision_role, kept),
        conflict=conflict,
        own_questions=_text(kept.get(roles.own_questions)),
        answers_by_step=answers_by_step(questionnaire, kept),
        sources=layout.cited_sources(
            content.evidence, [*points, *_grid_points(grid)], conflict, rules, options.source_ids
        ),
        disclaimer=rules.disclaimer,
        short_disclaimer=rules.summary.short_disclaimer,
        options=options,
        decision_stage=_labelled(questionnaire, roles.decision_stage, kept) if roles.decision_stage else None,
        ratings_equal=layout.ratings_equal(priorities),
        equal_ratings_note=rules.summary.equal_ratings if layout.ratings_equal(priorities) else None,
        knowledge_misses=layout.knowledge_misses(questionnaire, kept),
        questions=questions,
        first_questions=rules.summary.first_questions,
        grid=grid,
        checked_on=content.evidence.checked_on.isoformat() if content.evidence.checked_on else None,
        review_policy=content.evidence.review_policy,
        funding_note=funding_note,
        language=content.language,
    )


def build_summaries(content: Content, answers: Mapping[str, Any], **details: Any) -> SummarySnapshot:
    """The summary in the content's language (the patient's), keeping it in every other language too."""
    own = build_summary(content, answers, **details)
    others = {
        language: build_summary(content.in_language(language), answers, **details)
        for language in content.languages
        if language != content.language
    }
    return own.model_copy(update={"translations": others}) if others else own


def _grid_points(grid: Iterable[GridRow]) -> list[DiscussionPoint]:
    """The grid's facts as pseudo-points, so their sources are listed like the points' sources."""
    return [
        DiscussionPoint(id=row.id, title=row.title, why="", evidence=(*row.iort, *row.ebrt), questions=())
        for row in grid
    ]


# --- Priorities ---------------------------------------------------------------------------------


def rank_priorities(
    questionnaire: Questionnaire, answers: Mapping[str, Any], *, most_important_item: str
) -> list[RankedPriority]:
    """Rated priorities, most important first.

    Ties in rating go to the one the patient named as mattering most, then questionnaire order.
    """
    importance_items = {
        item.priority: item for item in questionnaire.items() if item.type == "importance" and item.priority
    }
    named = answers.get(most_important_item)
    rated: list[tuple[tuple[int, int, int], str, str, str]] = []
    for order, priority in enumerate(questionnaire.priorities):
        item = importance_items.get(priority.code)
        rating = answers.get(item.id) if item is not None else None
        if item is None or rating not in IMPORTANCE_RANK:
            continue
        score = IMPORTANCE_RANK[rating]
        key = (-score, 0 if priority.code == named else 1, order)
        rated.append((key, priority.code, priority.label, rating))
    rated.sort()
    return [
        RankedPriority(
            code=code,
            label=label,
            rating=rating,
            rating_label=_item_label(importance_items[code], rating),
            score=IMPORTANCE_RANK[rating],
            rank=rank,
            most_important=code == named,
        )
        for rank, (_key, code, label, rating) in enumerate(rated, start=1)
    ]


# --- Conflict screen ------------------------------------------------------------------------------


def conflict_result(rules: RuleFile, answers: Mapping[str, Any]) -> ConflictResult:
    """Yes = 1, no = 0. A full screen at or below the threshold flags; an incomplete one flags too."""
    screen = rules.conflict
    items = tuple(
        ConflictItem(
            code=screen_item.item,
            label=screen_item.label,
            answer=value if (value := answers.get(screen_item.item)) in ("yes", "no") else None,
        )
        for screen_item in screen.items
    )
    answered = sum(1 for item in items if item.answer is not None)
    score: int | None = None
    if answered < len(items):
        flagged, meaning = True, screen.meaning.incomplete
    else:
        score = sum(1 for item in items if item.answer == "yes")
        flagged = score <= screen.flag_at_or_below
        meaning = screen.meaning.flagged if flagged else screen.meaning.ready
    return ConflictResult(
        score=score, max_score=len(items), flagged=flagged, answered=answered, items=items, meaning=meaning
    )


# --- Discussion points ----------------------------------------------------------------------------


def discussion_points(
    questionnaire: Questionnaire,
    evidence: EvidenceLibrary,
    rules: RuleFile,
    answers: Mapping[str, Any],
    priorities: list[RankedPriority],
    cancer_type: str | None,
) -> list[DiscussionPoint]:
    """The points whose triggers fire, ordered by the patient's ranking of their priority.

    Points without a priority follow, in rules.yaml order.
    """
    rank = {priority.code: priority.rank for priority in priorities}
    unranked = len(priorities) + 1
    listed: list[tuple[tuple[int, int, int], DiscussionPoint]] = []
    for order, rule in enumerate(rules.points):
        if not rule.applies_to(cancer_type):
            continue
        fired = [trigger for trigger in rule.triggers if trigger_fires(trigger, answers)]
        if not fired:
            continue
        point = DiscussionPoint(
            id=rule.id,
            title=rule.title,
            why=" ".join(_unique(_why(questionnaire, trigger, answers) for trigger in fired)),
            evidence=_citations(evidence, rule, answers, cancer_type),
            # Questions tied to the patient's own answers come first, then the point's general ones.
            questions=tuple(_unique([*(q for t in fired for q in t.questions), *rule.questions])),
            priority=rule.priority,
            rows=tuple(rules.summary.row(row_id).title for row_id in rule.rows),
        )
        key = (0, rank.get(rule.priority, unranked), order) if rule.priority else (1, 0, order)
        listed.append((key, point))
    listed.sort(key=lambda pair: pair[0])
    return [point for _key, point in listed]


def _why(questionnaire: Questionnaire, trigger: Trigger, answers: Mapping[str, Any]) -> str:
    first = trigger.when[0]
    fields = {name for _, name, _, _ in string.Formatter().parse(trigger.why) if name}
    if "answer" not in fields:
        return trigger.why
    item = _find_item(questionnaire, first.item)
    value = answers.get(first.item)
    if item is None or value is None:
        shown = ""
    elif isinstance(value, list):
        codes = [code for code in value if first.in_ is None or code in first.in_]
        labels = [_mid_sentence(_item_label(item, code)) for code in codes]
        shown = _natural_join(labels, questionnaire.language)
    else:
        shown = display_answer(item, value, questionnaire.language)
    return trigger.why.format(answer=shown)


def _citations(
    evidence: EvidenceLibrary, rule: PointRule, answers: Mapping[str, Any], cancer_type: str | None
) -> tuple[EvidenceCitation, ...]:
    ids = list(rule.evidence)
    for by_answer in rule.evidence_by_answer:
        chosen = [code for code in _codes(answers.get(by_answer.item)) if code in by_answer.map]
        if chosen:
            for code in chosen:
                ids.extend(by_answer.map[code])
        else:
            ids.extend(by_answer.otherwise)
    citations = []
    for entry_id in _unique(ids):
        entry = evidence.entry(entry_id)
        if entry.applies_to(cancer_type):
            citations.append(layout.citation(entry))
    return tuple(citations)


# --- Answers for display --------------------------------------------------------------------------


def answers_by_step(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> tuple[StepAnswers, ...]:
    """The answered items that apply, step by step, in display form; steps without answers are left out."""
    steps = []
    for step in questionnaire.steps:
        lines = tuple(
            AnswerLine(
                item_id=item.id,
                question=item.text,
                answer=display_answer(item, answers[item.id], questionnaire.language),
            )
            for item in step.items
            if item.answerable and answers.get(item.id) is not None
        )
        if lines:
            steps.append(StepAnswers(step_id=step.id, title=step.title, answers=lines))
    return tuple(steps)


def display_answer(item: Item, value: Any, language: str = "en") -> str:
    """An answer as the patient would read it back."""
    if item.type == "multiple_choice":
        return "; ".join(_item_label(item, code) for code in _codes(value))
    if item.type in ("single_choice", "importance", "yes_no"):
        return _item_label(item, str(value))
    if item.type == "date":
        parsed = _answer_date(value)
        return long_date(parsed, language) if parsed is not None else str(value)
    return str(value)


# --- Small helpers --------------------------------------------------------------------------------


def _find_item(questionnaire: Questionnaire, link_id: str) -> Item | None:
    try:
        return questionnaire.item(link_id)
    except KeyError:
        return None


def _item_label(item: Item, code: str) -> str:
    return item.option_label(code)


def _codes(value: Any) -> list[str]:
    return answer_codes(value)


def _code(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _labelled(
    questionnaire: Questionnaire, link_id: str, answers: Mapping[str, Any]
) -> LabelledAnswer | None:
    item = _find_item(questionnaire, link_id)
    code = _code(answers.get(link_id))
    if item is None or code is None:
        return None
    return LabelledAnswer(code=code, label=_item_label(item, code), summary=item.option_summary(code))


def _labelled_many(
    questionnaire: Questionnaire, link_id: str, answers: Mapping[str, Any]
) -> tuple[LabelledAnswer, ...]:
    item = _find_item(questionnaire, link_id)
    if item is None:
        return ()
    return tuple(
        LabelledAnswer(code=code, label=_item_label(item, code)) for code in _codes(answers.get(link_id))
    )


def _answer_date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _utc_iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _natural_join(parts: list[str], language: str) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    if language != "en":  # "a, b y c": the locale's list pattern
        return format_list(parts, locale=language)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"  # English kept as before (no serial comma)


def _mid_sentence(label: str) -> str:
    """Lower-case a label's first letter for use inside a sentence, unless it starts an acronym."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label
