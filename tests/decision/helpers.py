"""Shared test data for the decision engine: the shipped content and a neutral, complete answer set."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from sdm_service.content import Content, load_library
from sdm_service.decision import build_summary
from sdm_service.decision.snapshot import PatientInfo, SummarySnapshot
from sdm_service.settings import PROJECT_ROOT

PRIORITIES = (
    "fewer_visits",
    "cost",
    "travel",
    "pathology_timing",
    "side_effects",
    "shorter_surgery",
    "long_term_evidence",
)
COMPLETED_AT = datetime(2026, 11, 20, 15, 42, 10, tzinfo=UTC)


@cache
def shipped() -> Content:
    return load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm")


def neutral_answers(**changes: Any) -> dict[str, Any]:
    """Every required item answered, no priority rated high or named ("I can't say"), screen all yes.

    Pass item=value to change answers; item=None removes an answer.
    """
    answers: dict[str, Any] = {
        "respondent": "patient",
        "cancer_type": "pancreatic",
        "decision_stage": "thinking",
        **{f"prio_{code}": "somewhat" for code in PRIORITIES},
        "most_important": "cant_say",
        "side_effect_concerns": ["none"],
        "leaning": "unsure",
        "decision_role": "shared",
        "sure_sure": "yes",
        "sure_understand": "yes",
        "sure_values": "yes",
        "sure_support": "yes",
    }
    for key, value in changes.items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    return answers


def summarize(
    answers: dict[str, Any],
    *,
    content: Content | None = None,
    consult_date: date | None = None,
    completed_at: datetime = COMPLETED_AT,
) -> SummarySnapshot:
    return build_summary(
        content or shipped(),
        answers,
        response_id="resp-1",
        completed_at=completed_at,
        patient=PatientInfo(name="Alex Doe", identifier_system="urn:mrn", identifier_value="123"),
        consult_date=consult_date,
        clinic_name="Test Cancer Center",
    )


def point_ids(snapshot: SummarySnapshot) -> list[str]:
    return [point.id for point in snapshot.discussion_points]


def evidence_ids(snapshot: SummarySnapshot, point_id: str) -> list[str]:
    point = next(p for p in snapshot.discussion_points if p.id == point_id)
    return [citation.id for citation in point.evidence]
