"""A matrix of patients for the summary checks, built from the shipped content's item ids.

Each persona is a complete, valid answer set: every cancer type, all ratings equal, nothing rated
high, a helper filling in, readiness 0 to 4, no insurance, far travel, and the patients issue 13
names. Answers to follow-ups are only given where the questionnaire asks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRIORITIES = (
    "fewer_visits",
    "cost",
    "travel",
    "pathology_timing",
    "side_effects",
    "shorter_surgery",
    "long_term_evidence",
)
SURE_ITEMS = ("sure_sure", "sure_understand", "sure_values", "sure_support")


@dataclass(frozen=True)
class Persona:
    name: str
    answers: dict[str, Any]
    patient_name: str | None = "Sam Rivera"
    patient_id: str | None = "MRN-20417"
    consult_date: str | None = "2026-12-03"
    notes: tuple[str, ...] = field(default_factory=tuple)


def _answers(
    cancer: str,
    ratings: dict[str, str] | None = None,
    *,
    default: str = "somewhat",
    most: str = "cost",
    yes: int = 4,
    **extra: Any,
) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "respondent": "patient",
        "cancer_type": cancer,
        "decision_stage": "thinking",
        **{f"prio_{code}": default for code in PRIORITIES},
        "most_important": most,
        "side_effect_concerns": ["none"],
        "leaning": "unsure",
        "decision_role": "shared",
        **{item: ("yes" if n < yes else "no") for n, item in enumerate(SURE_ITEMS)},
        "own_questions": "Can I still work during treatment?\nWill my daughter be able to come with me?",
    }
    for code, rating in (ratings or {}).items():
        answers[f"prio_{code}"] = rating
    answers.update(extra)
    return answers


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "breast_fears_recurrence",
        _answers(
            "breast",
            {"long_term_evidence": "extremely", "side_effects": "very"},
            most="long_term_evidence",
            yes=3,
            research_view="prefer_proven",
            side_effects_reason="looks",
            side_effect_concerns=["scarring", "skin"],
            leaning="ebrt",
            check_pathology="before",
        ),
    ),
    Persona(
        "breast_nothing_high",
        _answers("breast", default="a_little", most="fewer_visits", leaning="iort"),
    ),
    Persona(
        "breast_all_equal_extremely",
        _answers(
            "breast",
            default="extremely",
            most="travel",
            visit_limits=["work", "caregiving"],
            insurance_status="covered",
            travel_time="1_to_2_hours",
            transport="driven",
            extra_treatment_view="okay",
            side_effects_reason="daily_life",
            surgery_length_reason="asleep_longer",
            research_view="open",
            side_effect_concerns=["healing", "infection"],
        ),
    ),
    Persona(
        "breast_helper_low_readiness",
        _answers(
            "breast",
            {"fewer_visits": "very", "pathology_timing": "extremely"},
            most="pathology_timing",
            yes=1,
            respondent="helper",
            visit_limits=["transport"],
            extra_treatment_view="avoid",
            decision_stage="just_heard",
            check_sessions="weeks",
            decision_role="team",
        ),
        patient_name=None,
    ),
    Persona(
        "sarcoma_side_effects_most",
        _answers(
            "soft_tissue_sarcoma",
            {"side_effects": "a_little"},
            default="somewhat",
            most="side_effects",
            side_effect_concerns=["nerve", "healing"],
        ),
    ),
    Persona(
        "sarcoma_all_high",
        _answers(
            "soft_tissue_sarcoma",
            default="very",
            most="side_effects",
            visit_limits=["health"],
            insurance_status="not_sure",
            travel_time="30_to_60_min",
            transport="drive_self",
            extra_treatment_view="worried",
            side_effects_reason="past",
            surgery_length_reason="health",
            research_view="not_sure",
            side_effect_concerns=["not_sure"],
            yes=2,
        ),
    ),
    Persona(
        "pancreatic_uninsured",
        _answers(
            "pancreatic",
            {"cost": "extremely"},
            most="cost",
            insurance_status="no_insurance",
            yes=0,
        ),
    ),
    Persona(
        "pancreatic_readiness_0_helper",
        _answers(
            "pancreatic",
            {"fewer_visits": "very"},
            most="fewer_visits",
            yes=0,
            respondent="helper",
            visit_limits=["none"],
        ),
    ),
    Persona(
        "rectal_far_travel",
        _answers(
            "rectal",
            {"travel": "extremely"},
            most="travel",
            travel_time="over_2_hours",
            transport="hard",
            yes=1,
        ),
    ),
    Persona(
        "rectal_leaning_iort",
        _answers(
            "rectal",
            {"shorter_surgery": "very"},
            most="shorter_surgery",
            leaning="iort",
            surgery_length_reason="other",
            decision_stage="close",
        ),
    ),
    Persona(
        "colon_leaning_ebrt",
        _answers(
            "colon",
            {"pathology_timing": "very"},
            most="pathology_timing",
            leaning="ebrt",
            extra_treatment_view="not_sure",
            decision_stage="decided",
            yes=2,
        ),
    ),
    Persona(
        "colon_all_equal_somewhat",
        _answers("colon", default="somewhat", most="long_term_evidence"),
    ),
    Persona(
        "skin_nothing_rated_high",
        _answers("skin", default="not", most="shorter_surgery", side_effect_concerns=["skin"]),
    ),
    Persona(
        "skin_all_worries",
        _answers(
            "skin",
            {"side_effects": "extremely"},
            most="side_effects",
            side_effects_reason="other",
            side_effect_concerns=["healing", "scarring", "nerve", "infection", "skin", "seroma", "hematoma"],
            yes=3,
        ),
    ),
    Persona(
        "gynecologic_helper",
        _answers(
            "gynecologic",
            {"fewer_visits": "extremely", "cost": "very"},
            most="fewer_visits",
            respondent="helper",
            visit_limits=["caregiving", "other"],
            insurance_status="not_covered",
        ),
        patient_name=None,
    ),
    Persona(
        "gynecologic_readiness_3",
        _answers(
            "gynecologic",
            {"long_term_evidence": "very"},
            most="long_term_evidence",
            yes=3,
            research_view="open",
        ),
    ),
    Persona(
        "spine_side_effects",
        _answers(
            "spine",
            {"side_effects": "very", "shorter_surgery": "extremely"},
            most="shorter_surgery",
            side_effects_reason="not_sure",
            surgery_length_reason="not_sure",
            side_effect_concerns=["nerve"],
            yes=2,
        ),
    ),
    Persona(
        "spine_no_questions",
        {**_answers("spine", most="travel"), "own_questions": None},
    ),
    Persona(
        "other_not_sure",
        _answers(
            "other",
            {"long_term_evidence": "extremely"},
            most="long_term_evidence",
            research_view="prefer_proven",
            check_sessions="not_sure",
            check_pathology="not_sure",
            decision_stage="just_heard",
            yes=1,
        ),
        patient_name=None,
        patient_id=None,
        consult_date=None,
    ),
    Persona(
        "other_all_equal_not",
        _answers("other", default="not", most="cost"),
    ),
    Persona(
        "breast_readiness_2_costs",
        _answers(
            "breast",
            {"cost": "extremely", "travel": "very"},
            most="cost",
            yes=2,
            insurance_status="not_sure",
            travel_time="under_30_min",
            transport="public",
            side_effect_concerns=["seroma", "hematoma"],
        ),
    ),
    Persona(
        "breast_long_questions",
        _answers(
            "breast",
            {"fewer_visits": "extremely", "side_effects": "very", "pathology_timing": "very"},
            most="side_effects",
            visit_limits=["work"],
            extra_treatment_view="worried",
            side_effects_reason="looks",
            side_effect_concerns=["scarring", "skin", "seroma"],
            own_questions=(
                "How soon after surgery would I know if I need more radiation?\n"
                "What does the scar look like a year later?\n"
                "Can I drive myself home?\nWho do I call at night if something feels wrong?"
            ),
            yes=3,
        ),
    ),
)


def persona_answers(persona: Persona) -> dict[str, Any]:
    return {key: value for key, value in persona.answers.items() if value is not None}
