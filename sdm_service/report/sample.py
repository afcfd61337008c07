"""An example summary snapshot, for `sdm sample-pdf`, the API examples and tests.

It is computed by the real decision engine from the shipped content and one made-up set of
answers, so it always shows what a patient would see today (no hand-written wording to drift).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sdm_service.decision.snapshot import PatientInfo, SummarySnapshot
from sdm_service.resources import resource_path
from sdm_service.settings import DEFAULT_QUESTIONNAIRE_SLUG

SAMPLE_RESPONSE_ID = "3f6c2a9e-8b1d-4c7a-9e2f-5a4b3c2d1e0f"
SAMPLE_SLUG = DEFAULT_QUESTIONNAIRE_SLUG

# A breast patient for whom fewer visits matter most, who worries about two side effects and
# answered "no" to one readiness question.
SAMPLE_ANSWERS: dict[str, Any] = {
    "respondent": "patient",
    "cancer_type": "breast",
    "decision_stage": "thinking",
    "prio_fewer_visits": "extremely",
    "prio_cost": "somewhat",
    "prio_travel": "somewhat",
    "prio_pathology_timing": "very",
    "prio_side_effects": "very",
    "prio_shorter_surgery": "not",
    "prio_long_term_evidence": "a_little",
    "most_important": "fewer_visits",
    "visit_limits": ["work"],
    "extra_treatment_view": "worried",
    "side_effects_reason": "looks",
    "side_effect_concerns": ["healing", "seroma"],
    "leaning": "unsure",
    "decision_role": "shared",
    "sure_sure": "no",
    "sure_understand": "yes",
    "sure_values": "yes",
    "sure_support": "yes",
    "own_questions": "Can my partner stay with me on the day of surgery?\n"
    "How long will the operation take if I have IORT?",
}


def example_snapshot(**overrides: Any) -> SummarySnapshot:
    """A complete, realistic snapshot from the shipped content; keywords replace top-level fields."""
    from sdm_service.content import load_library  # loaded on use: the sample is for tools and tests
    from sdm_service.decision import build_summary
    from sdm_service.settings import Settings

    content = load_library(resource_path("questionnaires")).get(SAMPLE_SLUG)
    snapshot = build_summary(
        content,
        SAMPLE_ANSWERS,
        response_id=SAMPLE_RESPONSE_ID,
        completed_at=datetime(2026, 11, 20, 15, 42, 10, tzinfo=UTC),
        patient=PatientInfo(name="Maria Núñez-Schäfer"),
        consult_date=date(2026, 12, 3),
        clinic_name="Riverside Cancer Center",
        funding_note=Settings.model_fields["summary_funding_note"].default,
    )
    if not overrides:
        return snapshot
    data = snapshot.model_dump(mode="json")
    data.update(overrides)
    return SummarySnapshot.model_validate(data)
