"""The summary as the clinician sees it (issue 13): readiness first, then the page-1 facts, the grid
of good sides and downsides, points that refer to it; and old (version 1) summaries still render."""

from __future__ import annotations

import io
import uuid
from typing import Any

from litestar import Litestar
from pypdf import PdfReader

from sdm_service.models import PatientResponse
from tests.web.clinician_support import (
    FLAGGING_ANSWERS,
    Client,
    add_response,
    complete_answers,
    db,
    signed_in,
)

V2_FIELDS = (
    "short_disclaimer",
    "options",
    "decision_stage",
    "ratings_equal",
    "equal_ratings_note",
    "knowledge_misses",
    "questions",
    "first_questions",
    "grid",
    "checked_on",
    "review_policy",
    "funding_note",
)


def as_version_1(summary: dict[str, Any]) -> dict[str, Any]:
    """A stored summary as questionnaire 1.0.0 left it: none of the fields added since."""
    old = {key: value for key, value in summary.items() if key not in V2_FIELDS}
    old["schema_version"] = 1
    old["questionnaire_version"] = "1.0.0"
    old["discussion_points"] = [
        {k: v for k, v in point.items() if k not in ("rows", "question_numbers")}
        for point in summary["discussion_points"]
    ]
    return old


async def test_clinician_sees_readiness_first_then_the_grid_and_points(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "reader")
    answers = complete_answers(
        app,
        **FLAGGING_ANSWERS,
        cancer_type="breast",
        side_effect_concerns=["nerve"],
        check_pathology="before",
    )
    response_id = await add_response(app, answers=answers)
    html = (await client.get(f"/clinician/responses/{response_id}")).text
    order = [
        "Decision readiness",
        "Flagged for possible decisional conflict",
        "Quick-check answers to go over",
        "Can my partner stay with me on the day of surgery?",
        "Questions to ask first",
        "What matters most to the patient",
        "Good sides and downsides: IORT beside EBRT",
        "Points to discuss",
        "Cancer back in the same breast after 5 years",
        "What this summary rests on",
    ]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)
    content = app.state.library.get("iort-sdm")
    for entry in content.evidence.entries:
        if entry.kind == "risk":
            assert entry.label in html, entry.id
    assert "Nerve damage (worries you)" in html
    assert "Information checked on" in html
    assert "Facts:</strong> see" in html


async def test_a_version_1_summary_still_shows_and_prints(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "reader")
    response_id = await add_response(app)
    async with db(app) as session:
        row = await session.get(PatientResponse, response_id)
        assert row is not None
        assert row.summary is not None
        row.summary = as_version_1(row.summary)
        row.questionnaire_version = "1.0.0"
        session.add(row)
        await session.commit()
    page = await client.get(f"/clinician/responses/{response_id}")
    assert page.status_code == 200
    assert "could not be read" not in page.text
    assert "Points to discuss" in page.text
    assert "Good sides and downsides" not in page.text  # version 1 had no grid
    pdf = await client.get(f"/clinician/responses/{response_id}/summary.pdf")
    assert pdf.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "version 1.0.0" in text
    assert str(uuid.UUID(str(response_id))) in text
