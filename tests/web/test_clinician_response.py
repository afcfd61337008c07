"""One response for a clinician: answers, summary, PDF, reviews; and the whole 'done when' journey."""

from __future__ import annotations

import io
import re
import uuid

from litestar import Litestar
from pypdf import PdfReader
from sqlalchemy import select
from sqlmodel import col

from sdm_service.models import PatientResponse, ResponseStatus, Review, SummaryDocument
from tests.database import statements_run
from tests.web.clinician_support import (
    Client,
    add_response,
    audit_events,
    complete_answers,
    create_account,
    db,
    post_form,
    response_links,
    sign_in,
    signed_in,
)


async def _stored(app: Litestar, response_id: uuid.UUID) -> tuple[PatientResponse, list[Review]]:
    async with db(app) as session:
        response = await session.get(PatientResponse, response_id)
        assert response is not None
        reviews = (
            (
                await session.execute(
                    select(Review)
                    .where(col(Review.response_id) == response_id)
                    .order_by(col(Review.created_at))
                )
            )
            .scalars()
            .all()
        )
        return response, list(reviews)


async def test_done_when_sign_in_find_read_download_review_all_audited(client: Client, app: Litestar) -> None:
    user_id = await create_account(app, "dr.okafor")
    await add_response(app, status=ResponseStatus.IN_PROGRESS, patient_name="Other Person", answers={})
    response_id = await add_response(app, patient_name="Rosa Díaz", patient_value="MRN-4242")

    # Sign in, arriving from a bookmarked worklist filter.
    start = await client.get("/clinician?status=completed", follow_redirects=False)
    assert start.status_code == 303
    signed = await sign_in(client, "dr.okafor", next_path="/clinician?status=completed")
    assert signed.headers["location"] == "/clinician?status=completed"

    # Find the completed response in the worklist.
    worklist = await client.get(signed.headers["location"])
    assert response_links(worklist.text) == [str(response_id)]
    assert "Rosa Díaz" in worklist.text

    # Read it.
    page = await client.get(f"/clinician/responses/{response_id}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "Points to discuss" in page.text
    assert "Flagged for possible decisional conflict" in page.text
    assert "Can my partner stay with me on the day of surgery?" in page.text
    assert f'href="/clinician/responses/{response_id}/summary.pdf"' in page.text

    # Download the PDF.
    pdf = await client.get(f"/clinician/responses/{response_id}/summary.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    assert re.match(
        r'attachment; filename="iort-discussion-summary-[\w-]+\.pdf"', pdf.headers["content-disposition"]
    )
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Rosa" in text
    assert str(response_id) in text.replace("\n", "")

    # Mark it reviewed.
    reviewed = await post_form(
        client, f"/clinician/responses/{response_id}/review", {"note": "Discussed cost."}
    )
    assert reviewed.status_code == 303
    after = await client.get(reviewed.headers["location"])
    assert "Marked reviewed" in after.text
    assert "Discussed cost." in after.text
    stored, reviews = await _stored(app, response_id)
    assert stored.status == ResponseStatus.REVIEWED
    assert stored.reviewed_at is not None
    assert [(r.reviewer_id, r.note) for r in reviews] == [(user_id, "Discussed cost.")]

    # Every step is in the audit log, with who, what, when and where.
    events = [e for e in await audit_events(app) if e.actor_type == "clinician"]
    actions = [e.action for e in events]
    for action in ("auth.sign_in", "worklist.view", "response.view", "response.pdf", "response.review"):
        assert action in actions, action
    for event in events:
        assert event.actor_id == str(user_id)
        assert event.actor_label == "dr.okafor"
        assert event.ip
        assert event.occurred_at is not None
    for action in ("response.view", "response.pdf", "response.review"):
        assert any(e.action == action and e.entity_id == str(response_id) for e in events), action

    # ... and the same steps are readable by an administrator in the audit log viewer.
    await client.post("/clinician/sign-out", data={"_csrf_token": client.cookies.get("sdm_csrf")})
    await create_account(app, "auditor", role="admin")
    await sign_in(client, "auditor")
    log = await client.get("/clinician/admin/audit", params={"entity_id": str(response_id)})
    assert log.status_code == 200
    for action in ("response.view", "response.pdf", "response.review"):
        assert f'<th scope="row">{action}</th>' in log.text
    assert "dr.okafor" in log.text


async def test_reviewing_twice_keeps_the_history(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "first.reviewer")
    response_id = await add_response(app)
    assert (
        await post_form(client, f"/clinician/responses/{response_id}/review", {"note": "One"})
    ).status_code == 303
    first, _ = await _stored(app, response_id)
    assert (
        await post_form(client, f"/clinician/responses/{response_id}/review", {"note": ""})
    ).status_code == 303
    second, reviews = await _stored(app, response_id)
    assert [r.note for r in reviews] == ["One", ""]
    assert second.reviewed_at is not None
    assert first.reviewed_at is not None
    assert second.reviewed_at >= first.reviewed_at
    page = await client.get(f"/clinician/responses/{response_id}")
    assert "One" in page.text
    assert "No note" in page.text
    assert page.text.count("first.reviewer") >= 2
    assert len(await audit_events(app, "response.review")) == 2


async def test_an_unfinished_response_cannot_be_reviewed_and_has_no_pdf(
    client: Client, app: Litestar
) -> None:
    await signed_in(client, app, "early.bird")
    response_id = await add_response(
        app, status=ResponseStatus.IN_PROGRESS, answers={"respondent": "patient", "cancer_type": "breast"}
    )
    page = await client.get(f"/clinician/responses/{response_id}")
    assert "no summary or PDF yet" in page.text
    assert "Mark reviewed" not in page.text

    refused = await post_form(client, f"/clinician/responses/{response_id}/review", {"note": "too soon"})
    assert refused.status_code == 400
    assert "Only a completed response can be marked reviewed." in refused.text
    stored, reviews = await _stored(app, response_id)
    assert stored.status == ResponseStatus.IN_PROGRESS
    assert reviews == []
    assert await audit_events(app, "response.review") == []
    # The refused page still showed patient data, so that view is on the record.
    assert len(await audit_events(app, "response.view")) == 2

    pdf = await client.get(f"/clinician/responses/{response_id}/summary.pdf")
    assert pdf.status_code == 404
    assert await audit_events(app, "response.pdf") == []


async def test_an_overlong_note_is_refused_and_nothing_is_saved(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "wordy")
    response_id = await add_response(app)
    response = await post_form(client, f"/clinician/responses/{response_id}/review", {"note": "x" * 4001})
    assert response.status_code == 400
    assert "4000 characters or fewer" in response.text
    assert "x" * 4001 in response.text  # what was typed is kept for fixing
    stored, reviews = await _stored(app, response_id)
    assert stored.status == ResponseStatus.COMPLETED
    assert reviews == []


async def test_in_progress_answers_are_shown_by_step_with_labels_and_only_when_they_apply(
    client: Client, app: Litestar
) -> None:
    await signed_in(client, app, "reader")
    answers = {
        "respondent": "patient",
        "cancer_type": "breast",
        "prio_fewer_visits": "extremely",
        "visit_limits": ["work", "transport"],
        "prio_cost": "a_little",
        "insurance_status": "not_covered",  # left over from an earlier answer; no longer applies
    }
    response_id = await add_response(app, status=ResponseStatus.IN_PROGRESS, answers=answers)
    html = (await client.get(f"/clinician/responses/{response_id}")).text
    questionnaire = app.state.library.get("iort-sdm").questionnaire
    titles = {step.id: step.title for step in questionnaire.steps}
    for step_id in ("about", "priorities", "follow_ups"):
        assert f"<h3>{titles[step_id]}</h3>" in html
    assert f"<h3>{titles['side_effects']}</h3>" not in html  # nothing answered there yet
    assert "Extremely important" in html
    assert questionnaire.item("visit_limits").option_label("work") in html
    assert questionnaire.item("insurance_status").text not in html


async def test_completed_response_shows_priorities_points_and_answers(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "reader")
    answers = complete_answers(app, prio_side_effects="very", most_important="side_effects")
    response_id = await add_response(app, answers=answers)
    html = (await client.get(f"/clinician/responses/{response_id}")).text
    assert "<caption>Priorities, ranked by the patient</caption>" in html
    assert "Avoiding side effects <strong>(matters most)</strong>" in html
    assert "Why it is on the list:" in html
    assert "Answers by step" in html
    assert "Not flagged." in html


async def test_a_pdf_for_an_unknown_response_is_not_found(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "reader")
    response = await client.get(f"/clinician/responses/{uuid.uuid4()}/summary.pdf")
    assert response.status_code == 404
    assert await audit_events(app, "response.pdf") == []


async def test_a_stored_pdf_is_served_as_stored_without_loading_the_summary_and_each_download_is_audited(
    client: Client, app: Litestar
) -> None:
    user_id = await signed_in(client, app, "reader")
    response_id = await add_response(app)  # completed, its document not stored yet
    first = await client.get(f"/clinician/responses/{response_id}/summary.pdf")
    assert first.status_code == 200
    async with db(app) as session:
        stored = await session.get(SummaryDocument, response_id)
    assert stored is not None, "the first download stores the document"
    with statements_run() as seen:
        again = await client.get(f"/clinician/responses/{response_id}/summary.pdf")
    assert again.status_code == 200
    assert first.content == again.content == stored.pdf
    assert again.headers["content-type"] == "application/pdf"
    assert again.headers["cache-control"] == "no-store"
    assert again.headers["content-disposition"] == f'attachment; filename="{stored.filename}"'
    assert not [s for s in seen if "responses.summary AS" in s], "the stored document is served by its row"
    events = await audit_events(app, "response.pdf")
    assert [(e.actor_id, e.entity_id, e.detail) for e in events] == [
        (str(user_id), str(response_id), {"language": "en"})
    ] * 2
