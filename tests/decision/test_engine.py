"""The decision engine against the shipped rules: each rule and the combinations that matter."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from sdm_service.content import load_library
from sdm_service.decision import build_summary
from sdm_service.decision.snapshot import PatientInfo, SummarySnapshot
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
    assert snapshot.priorities[0].label == "Getting treatment close to home"


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
def test_high_priority_lists_its_point_beside_a_balanced_grid(
    priority: str, rating: str, cancer: str
) -> None:
    snapshot = summarize(neutral_answers(**{f"prio_{priority}": rating}, cancer_type=cancer))
    points = [p for p in snapshot.discussion_points if p.priority == priority]
    assert len(points) == 1
    point = points[0]
    label = "Very important" if rating == "very" else "Extremely important"
    assert f'"{label}"' in point.why
    assert point.questions
    # Balance is summary-level: the point refers to grid rows, and the grid holds both sides.
    titles = {row.title: row for row in snapshot.grid}
    assert point.rows
    assert set(point.rows) <= set(titles)
    assert any(row.top_priority for row in snapshot.grid)
    found = {c.kind for row in snapshot.grid for c in row.iort}
    assert "benefit" in found
    assert found & {"limitation", "risk"}
    for row in snapshot.grid:
        for citation in row.iort:
            assert citation.source_ids
            assert citation.statement


@pytest.mark.parametrize("rating", ["not", "a_little", "somewhat", "very", "extremely"])
@pytest.mark.parametrize("priority", PRIORITIES)
def test_matters_most_always_lists_its_point(priority: str, rating: str) -> None:
    snapshot = summarize(neutral_answers(**{f"prio_{priority}": rating}, most_important=priority))
    points = [p for p in snapshot.discussion_points if p.priority == priority]
    assert len(points) == 1
    assert "what matters most to you" in points[0].why
    assert snapshot.discussion_points[0] == points[0] or rating != "extremely"


def test_cant_say_names_no_priority() -> None:
    snapshot = summarize(neutral_answers(most_important="cant_say"))
    assert snapshot.most_important is None
    assert not [p for p in snapshot.discussion_points if p.priority]


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
        "You said you do not have health insurance."
    )
    # Issue 13: an uninsured patient is not asked what their insurance will pay.
    assert cost.questions == ("Who can help me find ways to pay for treatment?",
                              "What would I have to pay myself for each choice?")  # fmt: skip
    assert not any("plan" in q or "insurance" in q for q in cost.questions)
    assert cost.evidence == ()
    assert cost.rows == ("Cost and coverage",)


@pytest.mark.parametrize("status", ["covered", "not_covered", "not_sure"])
def test_insured_patients_are_asked_about_their_plan(status: str) -> None:
    snapshot = summarize(neutral_answers(prio_cost="very", insurance_status=status))
    cost = next(p for p in snapshot.discussion_points if p.id == "cost")
    assert "About insurance, you said" in cost.why
    assert "What would my plan pay for IORT, and for EBRT?" in cost.questions
    assert "Who can help me find ways to pay for treatment?" not in cost.questions


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
        ({"prio_travel": "very", "travel_time": "over_2_hours"}, "more than 2 hours"),
        ({"prio_travel": "very", "transport": "hard"}, "getting there would be hard for you"),
        ({"prio_travel": "very", "transport": "public"}, '"Bus, train or other public transport"'),
        ({"prio_side_effects": "very", "side_effects_reason": "looks"}, '"How my body will look and feel"'),
        ({"prio_long_term_evidence": "very", "research_view": "open"}, '"I am open to it'),
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


def test_far_trip_asks_about_a_place_to_stay() -> None:
    """Issue 13: "more than 2 hours" away now brings the lodging question."""
    snapshot = summarize(neutral_answers(prio_travel="very", travel_time="over_2_hours"))
    assert "Is there help with a place to stay near the center?" in snapshot.questions
    near = summarize(neutral_answers(prio_travel="very", travel_time="under_30_min"))
    assert "Is there help with a place to stay near the center?" not in near.questions


def test_wrong_quick_check_answers_are_listed_for_page_one() -> None:
    snapshot = summarize(neutral_answers(check_pathology="before", check_sessions="once"))
    assert [(m.answer, m.feedback is not None) for m in snapshot.knowledge_misses] == [
        ("Before the IORT radiation is given", True)
    ]
    assert "pathology_timing" not in point_ids(snapshot)


def test_pathology_quick_check_right_lists_nothing() -> None:
    snapshot = summarize(neutral_answers(check_pathology="after"))
    assert snapshot.knowledge_misses == ()
    assert "pathology_timing" not in point_ids(snapshot)


@pytest.mark.parametrize(("answer", "listed"), [("once", False), ("weeks", True), ("not_sure", True)])
def test_sessions_quick_check(answer: str, listed: bool) -> None:
    assert ("how_it_works" in point_ids(summarize(neutral_answers(check_sessions=answer)))) is listed


def test_just_heard_lists_how_it_works() -> None:
    snapshot = summarize(neutral_answers(decision_stage="just_heard"))
    point = next(p for p in snapshot.discussion_points if p.id == "how_it_works")
    assert point.why == "You have only just heard about IORT."
    assert snapshot.decision_stage is not None
    assert snapshot.decision_stage.summary == "You have only just heard about IORT."


# --- Side effects ------------------------------------------------------------------------------


def grid_row(snapshot: SummarySnapshot, row_id: str):
    return next(row for row in snapshot.grid if row.id == row_id)


@pytest.mark.parametrize("cancer", CANCER_TYPES)
def test_all_seven_side_effects_always_shown_with_worries_marked(cancer: str) -> None:
    snapshot = summarize(neutral_answers(cancer_type=cancer, side_effect_concerns=["nerve", "seroma"]))
    row = grid_row(snapshot, "side_effects")
    risks = [c for c in row.iort if c.kind == "risk"]
    assert [c.id for c in risks] == [f"R{n}" for n in range(1, 8)]
    assert [c.id for c in risks if c.worry] == ["R3", "R6"]
    assert {"B4", "C1"} <= {c.id for c in row.iort}
    b4 = next(c for c in row.iort if c.id == "B4")
    assert b4.caveat  # issue 13: the survival statement gets its caveat too


def test_sarcoma_naming_side_effects_as_matters_most_gets_the_point() -> None:
    snapshot = summarize(
        neutral_answers(
            cancer_type="soft_tissue_sarcoma", prio_side_effects="a_little", most_important="side_effects"
        )
    )
    assert snapshot.discussion_points[0].id == "side_effects"
    assert snapshot.discussion_points[0].rows == ("Side effects",)


def test_not_sure_is_not_listed_as_a_worry() -> None:
    snapshot = summarize(neutral_answers(side_effect_concerns=["not_sure"]))
    assert snapshot.side_effect_concerns == ()
    assert not any(c.worry for row in snapshot.grid for c in row.iort)


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
    cited |= {c.id for row in snapshot.grid for c in row.iort}
    assert not cited & BREAST_FIGURES
    assert "breast_recurrence" not in point_ids(snapshot)
    # Instead: a plain "no trial figures" line, and the statement that would mislead breast patients.
    assert {"L7", "P9"} <= cited
    assert not {s.id for s in snapshot.sources} & {"TARGIT-A-2014", "ELIOT-2013", "ASTRO-PBI-2024"}


def test_breast_figures_shown_for_breast_with_caveat() -> None:
    snapshot = summarize(
        neutral_answers(cancer_type="breast", prio_long_term_evidence="very", prio_fewer_visits="very")
    )
    assert evidence_ids(snapshot, "breast_recurrence") == ["F1", "F3", "F2", "F4"]
    assert all("p =" not in c.statement for p in snapshot.discussion_points for c in p.evidence)
    grid_ids = {c.id for row in snapshot.grid for c in row.iort}
    assert "P9" not in grid_ids
    assert "L7" not in grid_ids
    for point in snapshot.discussion_points:
        for citation in point.evidence:
            if citation.id in BREAST_FIGURES:
                assert citation.caveat
                assert "differ" in citation.caveat
    assert {"TARGIT-A-2014", "ELIOT-2013", "ASTRO-PBI-2024"} <= {s.id for s in snapshot.sources}


@pytest.mark.parametrize("research", ["not", "extremely"])
def test_every_breast_patient_gets_the_recurrence_point_once(research: str) -> None:
    snapshot = summarize(neutral_answers(cancer_type="breast", prio_long_term_evidence=research))
    assert point_ids(snapshot).count("breast_recurrence") == 1
    figures = [c for c in next(p for p in snapshot.discussion_points if p.id == "breast_recurrence").evidence]
    assert [c.table_row is not None for c in figures] == [True, True, False, False]


def test_fit_point_names_the_cancer_type() -> None:
    snapshot = summarize(neutral_answers(cancer_type="other"))
    point = next(p for p in snapshot.discussion_points if p.id == "fit")
    assert point.why == "Whether IORT fits depends on more than the type of cancer."
    assert point.rows == ("Who it suits",)
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
        ("ebrt", "Is there anything about me that makes EBRT a poor fit?"),
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
    cited |= {sid for row in snapshot.grid for c in (*row.iort, *row.ebrt) for sid in c.source_ids}
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
    cost["title"] = {"en": "Money matters", "es": "El dinero"}
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
    assert [c.id for c in snapshot.discussion_points[0].evidence] == ["F1"]
    assert [(row.id, [c.id for c in row.iort]) for row in snapshot.grid] == [
        ("visits", ["B1"]),
        ("cost", ["L1"]),
    ]
    assert snapshot.conflict.score == 1
    assert snapshot.conflict.flagged
    assert snapshot.completed_at == datetime(2026, 11, 20, 15, 42, 10, tzinfo=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


# --- Page 1 and the IPDAS items (issue 13) -------------------------------------------------------


def test_decision_and_options_are_stated() -> None:
    snapshot = summarize(neutral_answers())
    assert snapshot.options is not None
    assert "IORT" in snapshot.options.decision
    assert snapshot.options.options == (
        "IORT alone",
        "IORT plus external beam radiation (EBRT)",
        "EBRT alone",
        "Another plan your care team suggests",
    )
    assert snapshot.options.source_ids == ("ACS-IORT",)


def test_content_date_review_policy_and_funding_line() -> None:
    content = shipped()
    snapshot = build_summary(
        content,
        neutral_answers(),
        response_id="r",
        completed_at=datetime(2026, 11, 20, tzinfo=UTC),
        patient=PatientInfo(),
        consult_date=None,
        clinic_name="C",
        funding_note="Paid for by the clinic.",
    )
    assert snapshot.checked_on == content.evidence.checked_on.isoformat()  # type: ignore[union-attr]
    assert snapshot.review_policy == "reviewed every year or when the sources change"
    assert snapshot.funding_note == "Paid for by the clinic."


@pytest.mark.parametrize(("rating", "equal"), [("somewhat", True), ("not", True)])
def test_a_note_when_every_rating_is_the_same(rating: str, equal: bool) -> None:
    snapshot = summarize(neutral_answers(**{f"prio_{code}": rating for code in PRIORITIES}))
    assert snapshot.ratings_equal is equal
    assert snapshot.equal_ratings_note
    mixed = summarize(neutral_answers(prio_cost="very"))
    assert not mixed.ratings_equal
    assert mixed.equal_ratings_note is None


def test_second_person_summaries_for_page_one() -> None:
    snapshot = summarize(neutral_answers(leaning="iort", decision_role="team", respondent="helper"))
    assert snapshot.leaning is not None
    assert snapshot.leaning.summary == "You are leaning toward IORT."
    assert snapshot.decision_role is not None
    assert snapshot.decision_role.summary.startswith("You want")
    assert snapshot.respondent is not None
    assert snapshot.respondent.summary == "A helper, with the patient"
    first_item = next(item.label for item in snapshot.conflict.items)
    assert first_item == "Do you know which choice is right for you?"


def test_questions_follow_the_priorities_and_stop_at_eight() -> None:
    everything = {f"prio_{code}": "extremely" for code in PRIORITIES}
    snapshot = summarize(neutral_answers(**everything, most_important="side_effects", sure_sure="no"))
    assert len(snapshot.questions) == 8
    assert snapshot.discussion_points[0].id == "side_effects"
    assert snapshot.questions[0] == "Which side effects are most likely for me with each choice?"
    assert snapshot.first_questions == 5


def test_a_version_1_snapshot_still_loads() -> None:
    """Responses completed on questionnaire 1.0.0 keep their stored snapshot (no new fields)."""
    data = summarize(neutral_answers()).model_dump(mode="json")
    for name in ("short_disclaimer", "options", "decision_stage", "ratings_equal", "equal_ratings_note",
                 "knowledge_misses", "questions", "first_questions", "grid", "checked_on", "review_policy",
                 "funding_note"):  # fmt: skip
        data.pop(name)
    data["schema_version"] = 1
    for point in data["discussion_points"]:
        point.pop("rows")
        point.pop("question_numbers")
    old = SummarySnapshot.model_validate(data)
    assert old.grid == ()
    assert old.options is None
