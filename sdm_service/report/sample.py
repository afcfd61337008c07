"""A realistic example summary snapshot, for `sdm sample-pdf` and for tests.

The wording here is this project's own restatement of the facts in the evidence brief; it is
example data only and never shown to a real patient.
"""

from __future__ import annotations

from typing import Any

from sdm_service.decision.snapshot import SummarySnapshot

SAMPLE_RESPONSE_ID = "3f6c2a9e-8b1d-4c7a-9e2f-5a4b3c2d1e0f"

_RATING_LABELS = {
    "not": "Not important",
    "a_little": "A little important",
    "somewhat": "Somewhat important",
    "very": "Very important",
    "extremely": "Extremely important",
}
_RATING_SCORES = {"not": 0, "a_little": 1, "somewhat": 2, "very": 3, "extremely": 4}

# (code, label, rating), already in ranked order
_PRIORITIES = (
    ("fewer_visits", "Fewer treatment visits", "extremely"),
    ("pathology_first", "Waiting for the pathology report before radiation", "very"),
    ("side_effects", "Avoiding side effects", "very"),
    ("cost", "Cost and insurance coverage", "somewhat"),
    ("travel", "Travel to a specialized center", "somewhat"),
    ("long_term_research", "A treatment backed by long-term research", "a_little"),
    ("shorter_surgery", "A shorter operation", "not"),
)

_SOURCES = (
    {
        "id": "ACS-IORT",
        "citation": 'American Cancer Society, "Getting Intraoperative Radiation Therapy (IORT)"',
        "date": "last revised 2025-06-09",
    },
    {
        "id": "CC-IORT",
        "citation": 'Cleveland Clinic Health Library, "Intraoperative Radiation Therapy (IORT)"',
        "date": "last reviewed 2024-01-22",
    },
    {
        "id": "ASTRO-PBI-2024",
        "citation": "Shaitelman SF et al. Partial breast irradiation: an ASTRO clinical practice "
        "guideline. Pract Radiat Oncol 2024;14:112-132",
        "date": "2024",
    },
    {
        "id": "TARGIT-A-2014",
        "citation": "Vaidya JS et al. TARGIT-A 5-year results. Lancet 2014;383:603-613",
        "date": "2014",
    },
    {
        "id": "ELIOT-2013",
        "citation": "Veronesi U et al. ELIOT trial. Lancet Oncol 2013;14:1269-1277",
        "date": "2013",
    },
    {
        "id": "SURE-2010",
        "citation": "Légaré F et al. Are you SURE? A 4-item screening test for decisional conflict. "
        "Can Fam Physician 2010;56:e308-e314",
        "date": "2010",
    },
)

_FIGURE_CAVEAT = (
    "Results differ by the kind of IORT and by the person. Ask your care team what these numbers "
    "mean for you."
)

_POINTS: tuple[dict[str, Any], ...] = (
    {
        "id": "fewer-visits",
        "title": "Fewer trips for radiation",
        "why": "You said fewer treatment visits is extremely important to you, and you picked it as "
        "what matters most.",
        "priority": "fewer_visits",
        "evidence": (
            {
                "id": "B1",
                "kind": "benefit",
                "statement": "With IORT, radiation can be given all at once during surgery, instead "
                "of daily visits spread over several weeks.",
                "source_ids": ("CC-IORT", "ACS-IORT"),
            },
            {
                "id": "L6",
                "kind": "limitation",
                "statement": "IORT is not the right choice for every person.",
                "source_ids": ("CC-IORT",),
            },
        ),
        "questions": (
            "Could IORT be my only radiation, or might I still need radiation visits after surgery?",
            "How many visits would each choice take for me?",
        ),
    },
    {
        "id": "pathology",
        "title": "What the pathology report could change",
        "why": "You rated waiting for the pathology report before radiation as very important.",
        "priority": "pathology_first",
        "evidence": (
            {
                "id": "L5",
                "kind": "limitation",
                "statement": "When IORT is given, the lab has not yet finished the report on the "
                "removed tumor. That report helps plan the rest of your treatment.",
                "source_ids": ("ACS-IORT",),
            },
            {
                "id": "F-TARGIT-EXTRA",
                "kind": "figure",
                "statement": "In the TARGIT-A breast cancer trial, 239 of 1571 people who had IORT "
                "(15.2%) also needed external radiation because of what the final report showed.",
                "source_ids": ("TARGIT-A-2014",),
                "caveat": _FIGURE_CAVEAT,
            },
        ),
        "questions": (
            "If my report shows something unexpected, what happens next?",
            "How often do people treated here need more radiation after IORT?",
        ),
    },
    {
        "id": "side-effects",
        "title": "Side effects that worry you",
        "why": "You rated avoiding side effects as very important, and you marked two side effects "
        "that worry you.",
        "priority": "side_effects",
        "evidence": (
            {
                "id": "B4",
                "kind": "benefit",
                "statement": "Studies report similar survival with fewer complications than "
                "standard radiation.",
                "source_ids": ("CC-IORT",),
            },
            {
                "id": "R1",
                "kind": "risk",
                "statement": "The place where you had surgery may be slow to heal.",
                "source_ids": ("ACS-IORT",),
            },
            {
                "id": "R6",
                "kind": "risk",
                "statement": "Fluid can build up under the skin (seroma).",
                "source_ids": ("ACS-IORT",),
            },
        ),
        "questions": (
            "Which side effects are most likely for me with each choice?",
            "Who do I call if I have a fever, chills, bleeding or fluid from the wound?",
        ),
    },
    {
        "id": "cost",
        "title": "Cost and insurance",
        "why": "You rated cost and insurance coverage as somewhat important.",
        "priority": "cost",
        "evidence": (
            {
                "id": "L3",
                "kind": "limitation",
                "statement": "IORT can cost a lot, and some insurance plans do not pay for it.",
                "source_ids": ("ACS-IORT",),
            },
        ),
        "questions": (
            "Does my insurance plan cover IORT?",
            "What would I pay myself for each choice?",
        ),
    },
    {
        "id": "travel",
        "title": "Getting to a center that offers IORT",
        "why": "You rated travel to a specialized center as somewhat important.",
        "priority": "travel",
        "evidence": (
            {
                "id": "L2",
                "kind": "limitation",
                "statement": "IORT needs special machines and a trained team, so only some centers "
                "offer it. You may need to travel.",
                "source_ids": ("ACS-IORT",),
            },
        ),
        "questions": ("Is IORT offered here, or where is the nearest center?",),
    },
    {
        "id": "recurrence",
        "title": "The chance of the cancer coming back in the breast",
        "why": "You have breast cancer, and research results matter to you.",
        "priority": "long_term_research",
        "evidence": (
            {
                "id": "F-ASTRO",
                "kind": "figure",
                "statement": "A 2024 guideline found IORT alone is linked with a higher chance of the "
                "cancer returning in the same breast than radiation to the whole breast.",
                "source_ids": ("ASTRO-PBI-2024",),
                "caveat": _FIGURE_CAVEAT,
            },
            {
                "id": "F-TARGIT",
                "kind": "figure",
                "statement": "In TARGIT-A, after 5 years the cancer had come back in the breast in "
                "3.3% of people after IORT and 1.3% after whole-breast radiation.",
                "source_ids": ("TARGIT-A-2014",),
                "caveat": _FIGURE_CAVEAT,
            },
            {
                "id": "F-ELIOT",
                "kind": "figure",
                "statement": "In ELIOT, after 5 years the cancer had come back in the breast in 4.4% "
                "of people after IORT and 0.4% after whole-breast radiation.",
                "source_ids": ("ELIOT-2013",),
                "caveat": _FIGURE_CAVEAT,
            },
            {
                "id": "L1",
                "kind": "limitation",
                "statement": "More research is needed to know who gains the most from IORT.",
                "source_ids": ("ACS-IORT",),
            },
        ),
        "questions": (
            "What do these numbers mean for someone like me?",
            "Which kind of IORT does this center use?",
        ),
    },
)

_CONFLICT_ITEMS = (
    ("sure", "Do you feel sure about the best choice for you?", "yes"),
    ("know", "Do you know the benefits and risks of each choice?", "yes"),
    ("values", "Are you clear about which benefits and risks matter most to you?", "no"),
    ("support", "Do you have enough support and advice to make a choice?", "yes"),
)


def _sample_data() -> dict[str, Any]:
    priorities = [
        {
            "code": code,
            "label": label,
            "rating": rating,
            "rating_label": _RATING_LABELS[rating],
            "score": _RATING_SCORES[rating],
            "rank": rank,
            "most_important": rank == 1,
        }
        for rank, (code, label, rating) in enumerate(_PRIORITIES, start=1)
    ]
    conflict_score = sum(1 for _, _, answer in _CONFLICT_ITEMS if answer == "yes")
    return {
        "response_id": SAMPLE_RESPONSE_ID,
        "questionnaire_slug": "iort-sdm",
        "questionnaire_version": "1.0.0",
        "questionnaire_title": "Deciding about IORT",
        "clinic_name": "Riverside Cancer Center",
        "patient": {"name": "Maria Núñez-Schäfer", "identifier_system": None, "identifier_value": None},
        "respondent": {"code": "self", "label": "The patient"},
        "cancer_type": {"code": "breast", "label": "Breast cancer"},
        "completed_at": "2026-11-20T15:42:10Z",
        "consult_date": "2026-12-03",
        "priorities": priorities,
        "most_important": _PRIORITIES[0][0],
        "discussion_points": list(_POINTS),
        "side_effect_concerns": [
            {"code": "R1", "label": "Problems with healing where the surgery was"},
            {"code": "R6", "label": "Fluid collecting under the skin (seroma)"},
        ],
        "leaning": {"code": "not_sure", "label": "Not sure yet"},
        "decision_role": {"code": "shared", "label": "Decide together with my care team"},
        "conflict": {
            "score": conflict_score,
            "max_score": 4,
            "flagged": conflict_score <= 3,
            "answered": len(_CONFLICT_ITEMS),
            "items": [
                {"code": code, "label": label, "answer": answer} for code, label, answer in _CONFLICT_ITEMS
            ],
            "meaning": "A score of 3 or less out of 4 means you may not feel ready to decide yet. "
            "Many people feel this way. Tell your care team which questions you answered “no”, "
            "so they can help.",
        },
        "own_questions": "Can my partner stay with me on the day of surgery?\n"
        "How long will the operation take if I have IORT?",
        "answers_by_step": [],
        "sources": list(_SOURCES),
        "disclaimer": "This summary helps you get ready to talk with your care team. It does not "
        "replace that talk. You and your care team will decide together what is right for you.",
    }


def example_snapshot(**overrides: Any) -> SummarySnapshot:
    """A complete, realistic snapshot; keyword arguments replace top-level fields."""
    data = _sample_data()
    data.update(overrides)
    return SummarySnapshot.model_validate(data)
