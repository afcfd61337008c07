"""Properties of the engine over any valid answer set (hypothesis), on the shipped content."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdm_service.content.logic import enabled_answers
from sdm_service.content.schema import HIGH_IMPORTANCE, IMPORTANCE_RANK, Item
from sdm_service.decision.snapshot import SummarySnapshot
from tests.decision.helpers import shipped, summarize

QUESTIONNAIRE = shipped().questionnaire
EVIDENCE = {entry.id: entry for entry in shipped().evidence.entries}
SCREEN = [screen_item.item for screen_item in shipped().rules.conflict.items]
PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def value_for(item: Item) -> st.SearchStrategy[Any]:
    codes = list(item.option_codes())
    if item.type in ("single_choice", "importance", "yes_no"):
        return st.sampled_from(codes)
    if item.type == "multiple_choice":
        # canonical form: chosen codes in the questionnaire's order
        return st.sets(st.sampled_from(codes), min_size=1).map(
            lambda chosen: [c for c in codes if c in chosen]
        )
    if item.type == "date":
        return st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)).map(date.isoformat)
    return st.text(min_size=1, max_size=40).map(str.strip).filter(bool)


@st.composite
def answer_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Any valid answer set: each answerable item answered or not (follow-ups included at random,
    so answers that no longer apply are part of the input too)."""
    answers: dict[str, Any] = {}
    for item in QUESTIONNAIRE.items():
        if item.answerable and draw(
            st.booleans() if not item.required else st.sampled_from([True, True, False])
        ):
            answers[item.id] = draw(value_for(item))
    return answers


def cited_ids(snapshot: SummarySnapshot) -> set[str]:
    """Every fact the summary shows: in the points, in the grid and behind the options line."""
    ids = {c.id for point in snapshot.discussion_points for c in point.evidence}
    ids.update(c.id for row in snapshot.grid for c in (*row.iort, *row.ebrt))
    return ids


@PROPERTY_SETTINGS
@given(answer_sets(), st.randoms(use_true_random=False))
def test_same_input_gives_an_equal_snapshot(answers: dict[str, Any], rng: random.Random) -> None:
    shuffled = list(answers.items())
    rng.shuffle(shuffled)
    assert summarize(answers) == summarize(dict(shuffled))


@PROPERTY_SETTINGS
@given(answer_sets())
def test_every_high_or_named_priority_has_a_point(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    for priority in snapshot.priorities:
        if priority.rating not in HIGH_IMPORTANCE and not priority.most_important:
            continue
        points = [p for p in snapshot.discussion_points if p.priority == priority.code]
        assert len(points) == 1, priority.code
        assert points[0].rows, priority.code  # it points to the grid for its facts


@PROPERTY_SETTINGS
@given(answer_sets())
def test_the_grid_is_balanced_and_complete_for_every_patient(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    cancer = enabled_answers(QUESTIONNAIRE, answers).get("cancer_type")
    in_grid = [c for row in snapshot.grid for c in (*row.iort, *row.ebrt)]
    shown = [c.id for c in in_grid] + [c.id for p in snapshot.discussion_points for c in p.evidence]
    assert len(shown) == len(set(shown))  # each fact once in the whole summary
    for entry in EVIDENCE.values():
        if entry.kind in ("benefit", "risk") and entry.applies_to(cancer):
            assert entry.id in shown, entry.id
        if entry.kind == "limitation" and entry.applies_to(cancer) and entry.cancer_types == ("all",):
            assert entry.id in shown, entry.id
    kinds = {c.kind for c in in_grid}
    assert "benefit" in kinds
    assert kinds & {"limitation", "risk"}
    worried = {c.id for c in in_grid if c.worry}
    assert worried == {
        shipped().rules.summary.worries[code]
        for code in (answers.get("side_effect_concerns") or [])
        if code in shipped().rules.summary.worries
    }


@PROPERTY_SETTINGS
@given(answer_sets())
def test_at_most_eight_questions_each_once_numbered_in_point_order(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    assert len(snapshot.questions) <= shipped().rules.summary.max_questions
    assert len(set(snapshot.questions)) == len(snapshot.questions)
    numbers = [n for point in snapshot.discussion_points for n in point.question_numbers]
    assert numbers == list(range(1, len(snapshot.questions) + 1))
    for point in snapshot.discussion_points:
        for number, question in zip(point.question_numbers, point.questions, strict=True):
            assert snapshot.questions[number - 1] == question


@PROPERTY_SETTINGS
@given(answer_sets())
def test_points_are_ordered_by_priority_rank(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    rank = {p.code: p.rank for p in snapshot.priorities}
    keys = [
        (0, rank.get(point.priority, len(rank) + 1)) if point.priority else (1, 0)
        for point in snapshot.discussion_points
    ]
    assert keys == sorted(keys)


@PROPERTY_SETTINGS
@given(answer_sets())
def test_ranking_is_consistent(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    ranks = [p.rank for p in snapshot.priorities]
    assert ranks == list(range(1, len(ranks) + 1))
    scores = [p.score for p in snapshot.priorities]
    assert scores == sorted(scores, reverse=True)
    for p in snapshot.priorities:
        assert p.score == IMPORTANCE_RANK[p.rating]
    assert sum(p.most_important for p in snapshot.priorities) <= 1


@PROPERTY_SETTINGS
@given(answer_sets())
def test_conflict_flag_iff_score_at_most_3_or_incomplete(answers: dict[str, Any]) -> None:
    conflict = summarize(answers).conflict
    answered = sum(1 for item in SCREEN if item in answers)
    assert conflict.answered == answered
    if answered < len(SCREEN):
        assert conflict.score is None
        assert conflict.flagged
    else:
        assert conflict.score == sum(1 for item in SCREEN if answers[item] == "yes")
        assert conflict.flagged == (conflict.score <= 3)


@PROPERTY_SETTINGS
@given(answer_sets())
def test_evidence_fits_the_cancer_type(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    cancer = answers.get("cancer_type")
    for entry_id in cited_ids(snapshot):
        assert EVIDENCE[entry_id].applies_to(cancer)
    if cancer != "breast":
        assert not cited_ids(snapshot) & {"F1", "F2", "F3", "F4"}


@PROPERTY_SETTINGS
@given(answer_sets())
def test_sources_are_exactly_those_cited(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    cited = {sid for entry_id in cited_ids(snapshot) for sid in EVIDENCE[entry_id].sources}
    cited.update(snapshot.options.source_ids if snapshot.options else ())
    if snapshot.conflict.answered:
        cited.add("SURE-2010")
    assert [s.id for s in snapshot.sources] == [s.id for s in shipped().evidence.sources if s.id in cited]


@PROPERTY_SETTINGS
@given(answer_sets())
def test_only_answers_that_apply_are_used(answers: dict[str, Any]) -> None:
    snapshot = summarize(answers)
    kept = enabled_answers(QUESTIONNAIRE, answers)
    shown = [line.item_id for step in snapshot.answers_by_step for line in step.answers]
    assert shown == [item.id for item in QUESTIONNAIRE.items() if item.id in kept]
    # the engine gives the same result when the answers that do not apply are removed first
    assert summarize(kept) == snapshot


@PROPERTY_SETTINGS
@given(answer_sets())
def test_every_point_is_complete(answers: dict[str, Any]) -> None:
    for point in summarize(answers).discussion_points:
        assert point.title
        assert point.why.strip()
        assert point.evidence or point.rows or point.questions
        assert "{" not in point.why
        assert len(set(point.why.split(". "))) == len(point.why.split(". "))  # no reason said twice
        assert len(set(point.questions)) == len(point.questions)
        assert len({c.id for c in point.evidence}) == len(point.evidence)


@PROPERTY_SETTINGS
@given(answer_sets(), st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 1, 1)))
def test_consult_date_argument_always_wins(answers: dict[str, Any], visit: date) -> None:
    assert summarize(answers, consult_date=visit).consult_date == visit.isoformat()
    assert summarize(answers, consult_date=visit + timedelta(days=1)).consult_date != visit.isoformat()
