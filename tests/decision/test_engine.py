"""The decision engine against the shipped rules: each rule and the combinations that matter."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from sdm_service.content import load_library
from sdm_service.decision.snapshot import SummarySnapshot
from tests.decision.helpers import (
    PRIORITIES,
    evidence_ids,
    neutral_answers,
    point_ids,
    shipped,
    summarize,
)

BREAST_FIGURES = {"F1", "F2", "F3", "F4"}
CANCER_TYPES = shipped().questionnaire.item("cancer_type").option_codes()


def kinds(snapshot: SummarySnapshot, point_id: str) -> set[str]:
    point = next(p for p in snapshot.discussion_points if p.id == point_id)
    return {citation.kind for citation in point.evidence}


# --- Ranked priorities -------------------------------------------------------------------------


def test_priorities_ranked_by_rating() -> None:
    snapshot = summarize(
        neutral_answers(
            prio_fewer_visits="not",
            prio_cost="a_little",
            prio_travel="extremely",
            prio_pathology_timing="very",
            prio_side_effects="somewhat",
            prio_shorter_surgery="not",
            prio_long_term_evidence="very",
            most_important="travel",
        )
    )
    ranked = [(p.rank, p.code, p.rating, p.score) for p in snapshot.priorities]
    assert ranked == [
        (1, "travel", "extremely", 4),
        (2, "pathology_timing", "very", 3),
        (3, "long_term_evidence", "very", 3),
        (4, "side_effects", "somewhat", 2),
        (5, "cost", "a_little", 1),
        (6, "fewer_visits", "not", 0),
        (7, "shorter_surgery", "not", 0),
    ]
    assert snapshot.priorities[0].rating_label == "Extremely important"
    assert snapshot.priorities[0].label == "Not having to travel far to a special center"


def test_ties_go_to_most_important_then_questionnaire_order() -> None:
    ratings = {f"prio_{code}": "very" for code in PRIORITIES}
    snapshot = summarize(neutral_answers(**ratings, most_important="long_term_evidence"))
    assert [p.code for p in snapshot.priorities] == [
        "long_term_evidence",
        "fewer_visits",
        "cost",
        "travel",
        "pathology_timing",
        "side_effects",
        "shorter_surgery",
    ]
    assert [p.most_important for p in snapshot.priorities] == [True] + [False] * 6
    assert snapshot.most_important == "long_term_evidence"


def test_most_important_does_not_beat_a_higher_rating() -> None:
    snapshot = summarize(neutral_answers(prio_cost="very", prio_travel="extremely", most_important="cost"))
    assert [p.code for p in snapshot.priorities[:2]] == ["travel", "cost"]
    assert snapshot.priorities[1].most_important


# --- Priority points ---------------------------------------------------------------------------


@pytest.mark.parametrize("rating", ["very", "extremely"])
@pytest.mark.parametrize("priority", PRIORITIES)
@pytest.mark.parametrize("cancer", CANCER_TYPES)
def test_high_priority_lists_a_balanced_point(priority: str, rating: str, cancer: str) -> None:
    snapshot = summarize(neutral_answers(**{f"prio_{priority}": rating}, cancer_type=cancer))
    points = [p for p in snapshot.discussion_points if p.priority == priority]
    assert len(points) == 1
    point = points[0]
    label = "Very important" if rating == "very" else "Extremely important"
    assert f'"{label}"' in point.why
    found = {c.kind for c in point.evidence}
    assert "benefit" in found
    assert found & {"limitation", "risk"}
    assert point.questions
    for citation in point.evidence:
        assert citation.source_ids
        assert citation.statement


@pytest.mark.parametrize("rating", ["not", "a_little", "somewhat"])
def test_priorities_below_very_list_no_priority_point(rating: str) -> None:
    snapshot = summarize(neutral_answers(**{f"prio_{code}": rating for code in PRIORITIES}))
    assert [p for p in snapshot.discussion_points if p.priority] == []


def test_points_follow_the_patients_ranking() -> None:
    snapshot = summarize(
        neutral_answers(
            prio_fewer_visits="very",
            prio_cost="extremely",
            prio_side_effects="very",
            most_important="side_effects",
            check_sessions="weeks",
        )
    )
    assert point_ids(snapshot) == ["cost", "side_effects", "fewer_visits", "fit", "how_it_works", "leaning"]


# --- Follow-ups and other triggers -------------------------------------------------------------


def test_insurance_follow_up_adds_its_reason_and_question() -> None:
    snapshot = summarize(neutral_answers(prio_cost="very", insurance_status="no_insurance"))
    cost = next(p for p in snapshot.discussion_points if p.id == "cost")
    assert cost.why == (
        'You rated cost and insurance coverage as "Very important". '
        'About insurance, you said: "I do not have health insurance".'
    )
    assert "Who can help me find out what my plan will pay for?" in cost.questions
    assert evidence_ids(snapshot, "cost") == ["L3", "L2", "B1"]


def test_insurance_covered_adds_nothing() -> None:
    snapshot = summarize(neutral_answers(prio_cost="very", insurance_status="covered"))
    cost = next(p for p in snapshot.discussion_points if p.id == "cost")
    assert "insurance, you said" not in cost.why
    assert "Who can help me find out what my plan will pay for?" not in cost.questions


def test_follow_up_answers_of_a_priority_no_longer_high_are_ignored() -> None:
    """The patient rated cost high, answered the follow-up, then went back and lowered it."""
    answers = neutral_answers(prio_cost="a_little", insurance_status="not_covered", visit_limits=["work"])
    snapshot = summarize(answers)
    assert "cost" not in point_ids(snapshot)
    assert "fewer_visits" not in point_ids(snapshot)
    shown = {line.item_id for step in snapshot.answers_by_step for line in step.answers}
    assert "insurance_status" not in shown
    assert "visit_limits" not in shown


def test_visit_limits_named_in_the_why() -> None:
    snapshot = summarize(
        neutral_answers(prio_fewer_visits="extremely", visit_limits=["work", "caregiving", "health"])
    )
    point = next(p for p in snapshot.discussion_points if p.id == "fewer_visits")
    assert point.why.endswith(
        "You said many visits would be hard because of: my job, caring for children or other people "
        "and my health or energy."
    )


def test_visit_limits_none_adds_no_reason() -> None:
    snapshot = summarize(neutral_answers(prio_fewer_visits="very", visit_limits=["none"]))
    point = next(p for p in snapshot.discussion_points if p.id == "fewer_visits")
    assert "hard because" not in point.why


@pytest.mark.parametrize(
    ("changes", "expected_in_why"),
    [
        ({"prio_travel": "very", "travel_time": "over_2_hours"}, '"More than 2 hours"'),
        ({"prio_travel": "very", "transport": "hard"}, '"Getting there would be hard for me"'),
        (
            {"prio_pathology_timing": "very", "extra_treatment_view": "avoid"},
            '"I would want to avoid that if I can"',
        ),
        (
            {"prio_shorter_surgery": "extremely", "surgery_length_reason": "health"},
            '"I have other health problems"',
        ),
        ({"prio_long_term_evidence": "very", "research_view": "prefer_proven"}, "more research"),
    ],
)
def test_each_follow_up_names_its_answer(changes: dict[str, str], expected_in_why: str) -> None:
    snapshot = summarize(neutral_answers(**changes))
    priority = next(key for key in changes if key.startswith("prio_")).removeprefix("prio_")
    point = next(p for p in snapshot.discussion_points if p.priority == priority)
    assert expected_in_why in point.why


def test_pathology_quick_check_wrong_lists_the_point_even_when_priority_is_low() -> None:
    snapshot = summarize(neutral_answers(check_pathology="before"))
    point = next(p for p in snapshot.discussion_points if p.id == "pathology_timing")
    assert 'you answered "Before the IORT radiation is given"' in point.why
    assert "L5" in evidence_ids(snapshot, "pathology_timing")


def test_pathology_quick_check_right_lists_nothing() -> None:
    assert "pathology_timing" not in point_ids(summarize(neutral_answers(check_pathology="after")))


@pytest.mark.parametrize(("answer", "listed"), [("once", False), ("weeks", True), ("not_sure", True)])
def test_sessions_quick_check(answer: str, listed: bool) -> None:
    assert ("how_it_works" in point_ids(summarize(neutral_answers(check_sessions=answer)))) is listed


def test_just_heard_lists_how_it_works() -> None:
    snapshot = summarize(neutral_answers(decision_stage="just_heard"))
    point = next(p for p in snapshot.discussion_points if p.id == "how_it_works")
    assert point.why == 'You said: "I have only just heard about IORT".'


# --- Side effects ------------------------------------------------------------------------------


def test_chosen_side_effects_bring_their_risks_only() -> None:
    snapshot = summarize(neutral_answers(side_effect_concerns=["nerve", "seroma"]))
    point = next(p for p in snapshot.discussion_points if p.id == "side_effects")
    assert point.why == (
        "You said these side effects worry you: nerve damage and fluid building up under the skin (seroma)."
    )
    assert [e for e in evidence_ids(snapshot, "side_effects") if e.startswith("R")] == ["R3", "R6"]
    assert {"B3", "B4", "C1"} <= set(evidence_ids(snapshot, "side_effects"))


def test_side_effects_high_without_concerns_lists_every_risk() -> None:
    snapshot = summarize(neutral_answers(prio_side_effects="extremely", side_effect_concerns=["not_sure"]))
    risks = [e for e in evidence_ids(snapshot, "side_effects") if e.startswith("R")]
    assert risks == [f"R{n}" for n in range(1, 8)]
    point = next(p for p in snapshot.discussion_points if p.id == "side_effects")
    assert "worry you" not in point.why


@pytest.mark.parametrize("concerns", [["none"], ["not_sure"], None])
def test_no_concerns_and_low_priority_lists_no_side_effect_point(concerns: list[str] | None) -> None:
    assert "side_effects" not in point_ids(summarize(neutral_answers(side_effect_concerns=concerns)))


def test_side_effect_concerns_in_snapshot() -> None:
    snapshot = summarize(neutral_answers(side_effect_concerns=["infection", "skin"]))
    assert [(a.code, a.label) for a in snapshot.side_effect_concerns] == [
        ("infection", "Infection"),
        ("skin", "Skin that is sore or red (radiation dermatitis)"),
    ]


# --- Cancer type and breast figures ------------------------------------------------------------


@pytest.mark.parametrize("cancer", [c for c in CANCER_TYPES if c != "breast"])
def test_breast_figures_never_shown_for_other_cancers(cancer: str) -> None:
    everything = {f"prio_{code}": "extremely" for code in PRIORITIES}
    snapshot = summarize(neutral_answers(**everything, cancer_type=cancer, check_pathology="before"))
    cited = {c.id for p in snapshot.discussion_points for c in p.evidence}
    assert not cited & BREAST_FIGURES
    assert "breast_studies" not in point_ids(snapshot)
    assert not {s.id for s in snapshot.sources} & {"TARGIT-A-2014", "ELIOT-2013", "ASTRO-PBI-2024"}


def test_breast_figures_shown_for_breast_with_caveat() -> None:
    snapshot = summarize(
        neutral_answers(cancer_type="breast", prio_long_term_evidence="very", prio_fewer_visits="very")
    )
    assert {"F1", "F3", "F4"} <= set(evidence_ids(snapshot, "long_term_evidence"))
    assert "F2" in evidence_ids(snapshot, "fewer_visits")
    for point in snapshot.discussion_points:
        for citation in point.evidence:
            if citation.id in BREAST_FIGURES:
                assert citation.caveat
                assert "differ" in citation.caveat
    assert {"TARGIT-A-2014", "ELIOT-2013", "ASTRO-PBI-2024"} <= {s.id for s in snapshot.sources}


def test_breast_studies_point_when_research_not_rated_high() -> None:
    snapshot = summarize(neutral_answers(cancer_type="breast"))
    assert "breast_studies" in point_ids(snapshot)
    assert evidence_ids(snapshot, "breast_studies") == ["F1", "F3", "F4"]
    point = next(p for p in snapshot.discussion_points if p.id == "breast_studies")
    assert point.why.startswith('You chose "Breast cancer".')
    # ... but not twice when the research point already shows the figures
    assert "breast_studies" not in point_ids(
        summarize(neutral_answers(cancer_type="breast", prio_long_term_evidence="very"))
    )


def test_fit_point_names_the_cancer_type() -> None:
    snapshot = summarize(neutral_answers(cancer_type="other"))
    point = next(p for p in snapshot.discussion_points if p.id == "fit")
    assert point.why.startswith('You said IORT is being thought of for: "Another type, or I am not sure".')
    assert snapshot.cancer_type is not None
    assert snapshot.cancer_type.code == "other"


def test_without_cancer_type_only_general_evidence() -> None:
    snapshot = summarize(neutral_answers(cancer_type=None, prio_long_term_evidence="very"))
    assert snapshot.cancer_type is None
    assert "fit" not in point_ids(snapshot)
    assert not set(evidence_ids(snapshot, "long_term_evidence")) & BREAST_FIGURES


# --- Leaning and readiness ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaning", "question"),
    [
        ("unsure", "What else should I think about before I choose?"),
        ("iort", "Is there anything about me that makes IORT a poor fit?"),
        ("ebrt", "What would EBRT be like for me, week by week?"),
    ],
)
def test_leaning_point_asks_matching_question(leaning: str, question: str) -> None:
    snapshot = summarize(neutral_answers(leaning=leaning))
    point = next(p for p in snapshot.discussion_points if p.id == "leaning")
    assert question in point.questions
    assert snapshot.leaning is not None
    assert snapshot.leaning.code == leaning


def test_decision_role_in_snapshot() -> None:
    snapshot = summarize(neutral_answers(decision_role="team"))
    assert snapshot.decision_role is not None
    assert snapshot.decision_role.label == "I want my care team to choose after they hear what I think"


@pytest.mark.parametrize(
    ("item", "question"),
    [
        ("sure_sure", "Do I need to choose now, or is there time to think?"),
        ("sure_understand", "Can you go over the good and bad sides of each choice with me again?"),
        ("sure_values", "Can we talk about what matters most to me?"),
        ("sure_support", "Who else can I talk with for help or advice?"),
    ],
)
def test_each_no_on_the_screen_adds_its_question(item: str, question: str) -> None:
    snapshot = summarize(neutral_answers(**{item: "no"}))
    point = next(p for p in snapshot.discussion_points if p.id == "readiness")
    assert question in point.questions
    assert evidence_ids(snapshot, "readiness") == ["S1"]


def test_all_yes_lists_no_readiness_point() -> None:
    assert "readiness" not in point_ids(summarize(neutral_answers()))


# --- Conflict score ----------------------------------------------------------------------------

SCREEN = ("sure_sure", "sure_understand", "sure_values", "sure_support")


def test_all_yes_scores_4_not_flagged() -> None:
    conflict = summarize(neutral_answers()).conflict
    assert (conflict.score, conflict.max_score, conflict.flagged, conflict.answered) == (4, 4, False, 4)
    assert conflict.meaning.startswith("You answered yes to all four")
    assert [item.code for item in conflict.items] == list(SCREEN)


@pytest.mark.parametrize("noes", [1, 2, 3, 4])
def test_three_or_less_flags(noes: int) -> None:
    conflict = summarize(neutral_answers(**{item: "no" for item in SCREEN[:noes]})).conflict
    assert conflict.score == 4 - noes
    assert conflict.flagged
    assert "may not feel ready" in conflict.meaning


@pytest.mark.parametrize("missing", [1, 2, 4])
def test_incomplete_screen_has_no_score_and_flags(missing: int) -> None:
    conflict = summarize(neutral_answers(**dict.fromkeys(SCREEN[:missing]))).conflict
    assert conflict.score is None
    assert conflict.flagged
    assert conflict.answered == 4 - missing
    assert "no score" in conflict.meaning
    assert [item.answer for item in conflict.items][:missing] == [None] * missing


def test_sure_source_cited_only_when_the_screen_was_answered() -> None:
    assert "SURE-2010" in {s.id for s in summarize(neutral_answers()).sources}
    unanswered = summarize(neutral_answers(**dict.fromkeys(SCREEN)))
    assert "SURE-2010" not in {s.id for s in unanswered.sources}


# --- Dates, answers, sources, disclaimer --------------------------------------------------------


def test_consult_date_argument_wins_over_answer() -> None:
    answers = neutral_answers(consult_date="2026-12-03")
    assert summarize(answers).consult_date == "2026-12-03"
    assert summarize(answers, consult_date=date(2026, 12, 10)).consult_date == "2026-12-10"
    assert summarize(neutral_answers()).consult_date is None


def test_completed_at_is_utc_iso() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert summarize(
        neutral_answers(), completed_at=datetime(2026, 11, 20, 10, 0, tzinfo=eastern)
    ).completed_at == ("2026-11-20T15:00:00Z")
    assert (
        summarize(neutral_answers(), completed_at=datetime(2026, 11, 20, 10, 0)).completed_at
        == "2026-11-20T10:00:00Z"
    )


def test_answers_by_step_shows_display_answers() -> None:
    snapshot = summarize(
        neutral_answers(
            consult_date="2026-03-14",
            own_questions="  Will it hurt?  ",
            side_effect_concerns=["nerve", "infection"],
        )
    )
    steps = {
        step.step_id: {line.item_id: line.answer for line in step.answers}
        for step in snapshot.answers_by_step
    }
    assert steps["about"]["consult_date"] == "March 14, 2026"
    assert steps["about"]["respondent"] == "I am the patient"
    assert steps["priorities"]["prio_cost"] == "Somewhat important"
    assert steps["side_effects"]["side_effect_concerns"] == "Nerve damage; Infection"
    assert steps["readiness"]["sure_sure"] == "Yes"
    assert steps["questions"]["own_questions"] == "  Will it hurt?  "
    assert snapshot.own_questions == "Will it hurt?"
    assert "learn" not in steps  # nothing answered there
    assert "review" not in steps  # display only
    first = snapshot.answers_by_step[0]
    assert first.title == "About you"
    assert first.answers[0].question == "Who is filling in this form?"


def test_sources_are_only_those_cited_with_dates() -> None:
    snapshot = summarize(neutral_answers(cancer_type="pancreatic", leaning="ebrt"))
    cited = {sid for p in snapshot.discussion_points for c in p.evidence for sid in c.source_ids}
    assert {s.id for s in snapshot.sources} == cited | {"SURE-2010"}
    assert all(s.date and s.citation for s in snapshot.sources)


def test_disclaimer_says_it_supports_not_replaces_the_talk() -> None:
    disclaimer = summarize(neutral_answers()).disclaimer
    assert "care team" in disclaimer
    assert "does not take the place" in disclaimer


def test_identity_fields_are_copied() -> None:
    snapshot = summarize(neutral_answers())
    assert snapshot.response_id == "resp-1"
    assert snapshot.questionnaire_slug == "iort-sdm"
    assert snapshot.questionnaire_version == shipped().version
    assert snapshot.questionnaire_title == shipped().questionnaire.title
    assert snapshot.clinic_name == "Test Cancer Center"
    assert snapshot.patient.name == "Alex Doe"
    assert snapshot.respondent is not None
    assert snapshot.respondent.label == "I am the patient"


def test_unknown_and_malformed_answers_are_ignored() -> None:
    answers = neutral_answers(prio_cost="hugely", sure_sure="maybe", made_up="x")
    snapshot = summarize(answers)
    assert "cost" not in {p.code for p in snapshot.priorities}
    assert snapshot.conflict.score is None


def test_snapshot_is_deterministic_and_round_trips_as_json() -> None:
    answers = neutral_answers(prio_cost="very", cancer_type="breast", side_effect_concerns=["nerve"])
    first = summarize(answers)
    second = summarize(dict(reversed(list(answers.items()))))
    assert first == second
    assert SummarySnapshot.model_validate_json(first.model_dump_json()) == first


# --- Rules are data ----------------------------------------------------------------------------


def test_changing_rules_yaml_changes_the_points(tmp_path: Path) -> None:
    root = tmp_path / "content"
    shutil.copytree(shipped().directory, root / "iort-sdm")
    rules_path = root / "iort-sdm" / "rules.yaml"
    rules = yaml.safe_load(rules_path.read_text())
    cost = next(point for point in rules["points"] if point["id"] == "cost")
    cost["title"] = "Money matters"
    cost["triggers"][0]["when"][0]["in"] = ["somewhat", "very", "extremely"]
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    edited = load_library(root).get("iort-sdm")
    snapshot = summarize(neutral_answers(), content=edited)
    point = next(p for p in snapshot.discussion_points if p.id == "cost")
    assert point.title == "Money matters"
    assert '"Somewhat important"' in point.why


def test_works_on_other_content() -> None:
    mini = load_library(Path(__file__).resolve().parent.parent / "fixtures" / "content" / "mini").get("mini")
    snapshot = summarize(
        {
            "respondent": "patient",
            "cancer_type": "breast",
            "prio_fewer_visits": "very",
            "prio_cost": "extremely",
            "insurance_status": "not_sure",
            "most_important": "fewer_visits",
            "sure_a": "yes",
            "sure_b": "no",
        },
        content=mini,
    )
    assert point_ids(snapshot) == ["cost", "visits"]
    assert [c.id for c in snapshot.discussion_points[0].evidence] == ["L1", "B1", "F1"]
    assert snapshot.conflict.score == 1
    assert snapshot.conflict.flagged
    assert snapshot.completed_at == datetime(2026, 11, 20, 15, 42, 10, tzinfo=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
