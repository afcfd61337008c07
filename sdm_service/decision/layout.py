"""Pure helpers for the summary's fixed parts: the grid, numbered questions, quick-check misses.

No I/O: content and answers in, snapshot parts out. The engine (engine.py) calls these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sdm_service.content.logic import answer_codes
from sdm_service.content.schema import EvidenceEntry, EvidenceLibrary, Questionnaire, RuleFile
from sdm_service.decision.snapshot import (
    ConflictResult,
    DiscussionPoint,
    EvidenceCitation,
    GridRow,
    KnowledgeMiss,
    Options,
    RankedPriority,
    SourceRef,
)

TOP_PRIORITIES = 3


def citation(entry: EvidenceEntry, *, worry: bool = False) -> EvidenceCitation:
    return EvidenceCitation(
        id=entry.id,
        kind=entry.kind,
        statement=entry.statement,
        source_ids=entry.sources,
        caveat=entry.caveat,
        label=entry.label,
        worry=worry,
        table_row=entry.table_row,
    )


def worried_risks(rules: RuleFile, answers: Mapping[str, Any]) -> set[str]:
    chosen = answer_codes(answers.get(rules.roles.side_effect_concerns))
    return {rules.summary.worries[code] for code in chosen if code in rules.summary.worries}


def grid_rows(
    evidence: EvidenceLibrary,
    rules: RuleFile,
    cancer_type: str | None,
    worries: set[str],
    priorities: Sequence[RankedPriority],
) -> tuple[GridRow, ...]:
    """Every grid row, with only the facts that apply to this cancer type; worries marked."""
    top = {p.code for p in priorities[:TOP_PRIORITIES] if p.score > 0}
    rows = []
    for row in rules.summary.grid:
        entries = [evidence.entry(i) for i in row.iort]
        rows.append(
            GridRow(
                id=row.id,
                title=row.title,
                iort=tuple(citation(e, worry=e.id in worries) for e in entries if e.applies_to(cancer_type)),
                ebrt=tuple(
                    citation(evidence.entry(i)) for i in row.ebrt if evidence.entry(i).applies_to(cancer_type)
                ),
                ebrt_note=row.ebrt_note,
                top_priority=row.priority in top,
            )
        )
    return tuple(rows)


def options(evidence: EvidenceLibrary, rules: RuleFile) -> Options:
    summary = rules.summary
    source = evidence.entry(summary.options_source).sources if summary.options_source else ()
    return Options(decision=summary.decision, options=summary.options, source_ids=source)


def number_questions(
    points: Iterable[DiscussionPoint], limit: int
) -> tuple[tuple[str, ...], list[DiscussionPoint]]:
    """At most `limit` questions, in point order (the patient's priorities first), each once.

    Each point keeps only its questions that made the list, with their numbers. A point left with
    nothing to show (no question, no fact, no grid row) is dropped: its reason alone helps no one.
    """
    chosen: list[str] = []
    numbered: list[DiscussionPoint] = []
    for point in points:
        mine: list[str] = []
        numbers: list[int] = []
        for question in point.questions:
            if question in chosen:
                continue
            if len(chosen) >= limit:
                break
            chosen.append(question)
            mine.append(question)
            numbers.append(len(chosen))
        if mine or point.evidence or point.rows:
            numbered.append(
                point.model_copy(update={"questions": tuple(mine), "question_numbers": tuple(numbers)})
            )
    return tuple(chosen), numbered


def knowledge_misses(questionnaire: Questionnaire, answers: Mapping[str, Any]) -> tuple[KnowledgeMiss, ...]:
    """Quick-check items answered with something other than the correct option."""
    misses = []
    for item in questionnaire.items():
        value = answers.get(item.id)
        if not item.correct or not isinstance(value, str) or value in item.correct:
            continue
        misses.append(
            KnowledgeMiss(question=item.text, answer=item.option_label(value), feedback=item.feedback)
        )
    return tuple(misses)


def ratings_equal(priorities: Sequence[RankedPriority]) -> bool:
    return len(priorities) > 1 and len({p.rating for p in priorities}) == 1


def cited_sources(
    evidence: EvidenceLibrary,
    points: Iterable[DiscussionPoint],
    conflict: ConflictResult,
    rules: RuleFile,
    extra: Iterable[str] = (),
) -> tuple[SourceRef, ...]:
    """Sources cited by the listed points (and the screen's model, when it was answered), in
    the evidence library's order."""
    cited = {
        source_id for point in points for citation in point.evidence for source_id in citation.source_ids
    }
    cited.update(extra)
    if conflict.answered:
        cited.add(rules.conflict.source)
    return tuple(
        SourceRef(id=source.id, citation=source.citation, date=source.date)
        for source in evidence.sources
        if source.id in cited
    )
