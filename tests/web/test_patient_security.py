"""Patient pages refuse what a real page could not send, and never show one patient another's data."""

from __future__ import annotations

from datetime import timedelta

from litestar import Litestar

from sdm_service.models import ResponseStatus, utcnow
from sdm_service.services import invitations
from sdm_service.settings import Settings
from tests.web.patient_support import (
    BASE,
    Client,
    answer_all,
    content_of,
    csrf_token,
    db,
    lock_version,
    patient_token,
    post_step,
    resume_link,
    start,
    step_values,
    stored_responses,
    submit,
)


async def invite(app: Litestar, settings: Settings, **kwargs: object) -> invitations.NewInvitation:
    async with db(app) as session:
        created = await invitations.create_invitation(
            session, settings, content_of(app), patient_value="MRN-7", patient_name="Ana", **kwargs
        )
        await session.commit()
        return created


# --- CSRF -----------------------------------------------------------------------------------------


async def test_posts_without_the_csrf_token_are_refused(client: Client, app: Litestar) -> None:
    refused = await client.post(f"{BASE}/start", data={})
    assert refused.status_code == 403
    assert await stored_responses(app) == []

    first = await start(client)
    values = step_values(content_of(app), {}, 0)
    no_token = await client.post(
        f"{BASE}/step/1", data={**values, "lock_version": lock_version(first), "action": "continue"}
    )
    assert no_token.status_code == 403
    wrong_token = await client.post(
        f"{BASE}/step/1",
        data={**values, "lock_version": lock_version(first), "_csrf_token": "0" * 64},
    )
    assert wrong_token.status_code == 403
    (stored,) = await stored_responses(app)
    assert stored.answers == {}
    assert (await client.post(f"{BASE}/submit", data={"lock_version": "1"})).status_code == 403


# --- Who may see what ----------------------------------------------------------------------------


async def test_pages_without_a_patient_cookie_show_nothing(client: Client) -> None:
    for path in ("/step/1", "/review", "/summary", "/summary.pdf", "/saved"):
        page = await client.get(f"{BASE}{path}")
        assert page.status_code == 403, path
        assert "We could not find your answers" in page.text
        assert page.headers["cache-control"] == "no-store"


async def test_a_made_up_cookie_shows_nothing_and_is_rate_limited(client: Client) -> None:
    client.cookies.set("sdm_patient", "not-a-real-token", domain="testserver.local")
    statuses = [(await client.get(f"{BASE}/step/1")).status_code for _ in range(31)]
    assert set(statuses[:30]) == {403}
    assert statuses[30] == 429


async def test_one_patient_cannot_reach_another_patients_answers(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    token_a = patient_token(client)
    answers_a = await answer_all(client, content, {"own_questions": "Question only Ana asked"})
    await submit(client)
    summary_a = await client.get(f"{BASE}/summary")
    assert "Question only Ana asked" in summary_a.text
    pdf_a = await client.get(f"{BASE}/summary.pdf")
    assert pdf_a.status_code == 200

    # Patient B, in a fresh browser, with their own token: sees only their own (empty) response.
    client.cookies.clear()
    await start(client)
    token_b = patient_token(client)
    assert token_b != token_a
    for path in ("/summary", "/review", "/step/1"):
        page = await client.get(f"{BASE}{path}")
        assert "Question only Ana asked" not in page.text
        assert str(page.url).endswith(f"{BASE}/step/1")
    pdf_b = await client.get(f"{BASE}/summary.pdf")
    assert pdf_b.status_code == 404
    assert not pdf_b.content.startswith(b"%PDF")

    # Nothing in B's pages names A's response, and B cannot pick another response by any URL.
    (a_row,) = [r for r in await stored_responses(app) if r.status == ResponseStatus.COMPLETED]
    for path in (f"/step/1?response_id={a_row.id}", f"/summary?id={a_row.id}"):
        page = await client.get(f"{BASE}{path}")
        assert "Question only Ana asked" not in page.text
    step_page = await client.get(f"{BASE}/step/1")
    assert str(a_row.id) not in step_page.text
    assert answers_a  # A's own answers were real


async def test_tokens_are_stored_only_as_hashes(client: Client, app: Litestar) -> None:
    first = await start(client)
    token = resume_link(first).rsplit("/", 1)[1]
    (stored,) = await stored_responses(app)
    assert stored.resume_token_hash is not None
    assert token not in stored.resume_token_hash
    assert len(token) >= 43  # 256 bits


# --- Invitation links ------------------------------------------------------------------------------


async def test_invitation_link_opens_the_patients_response(
    client: Client, app: Litestar, settings: Settings
) -> None:
    created = await invite(app, settings)
    opened = await client.get(f"/i/{created.token}")
    assert opened.status_code == 200
    assert str(opened.url).endswith(f"{BASE}/step/1")
    (stored,) = await stored_responses(app)
    assert stored.id == created.response.id
    assert stored.status == ResponseStatus.IN_PROGRESS
    link = resume_link(opened.text)
    content = content_of(app)
    await post_step(client, 1, step_values(content, {}, 0))

    # The saved resume link and the invitation link both bring the same answers back.
    for path in (link.removeprefix("http://testserver.local"), f"/i/{created.token}"):
        client.cookies.clear()
        again = await client.get(path)
        assert str(again.url).endswith(f"{BASE}/step/2"), path
    assert len(await stored_responses(app)) == 1
    # And the invitation link works at /r/ too (it is a resume link until it expires).
    client.cookies.clear()
    via_resume = await client.get(f"/r/{created.token}")
    assert str(via_resume.url).endswith(f"{BASE}/step/2")


async def test_completed_invitation_response_goes_to_its_summary(
    client: Client, app: Litestar, settings: Settings
) -> None:
    created = await invite(app, settings)
    await client.get(f"/i/{created.token}")
    await answer_all(client, content_of(app))
    await submit(client)
    client.cookies.clear()
    again = await client.get(f"/i/{created.token}")
    assert str(again.url).endswith(f"{BASE}/summary")
    (stored,) = await stored_responses(app)
    assert stored.summary is not None
    assert stored.summary["patient"]["name"] == "Ana"


async def test_unknown_expired_and_revoked_invitations_get_friendly_pages(
    client: Client, app: Litestar, settings: Settings
) -> None:
    unknown = await client.get("/i/this-is-not-a-real-link")
    assert unknown.status_code == 404
    assert "We do not recognise this link" in unknown.text

    expired = await invite(app, settings, ttl_days=1, now=utcnow() - timedelta(days=3))
    page = await client.get(f"/i/{expired.token}")
    assert page.status_code == 410
    assert "This link has expired" in page.text
    assert (await client.get(f"/r/{expired.token}")).status_code == 404

    revoked = await invite(app, settings)
    async with db(app) as session:
        await invitations.revoke_invitation(session, revoked.invitation.id)
        await session.commit()
    page = await client.get(f"/i/{revoked.token}")
    assert page.status_code == 410
    assert "withdrawn" in page.text
    assert client.cookies.get("sdm_patient") is None
    statuses = {r.status for r in await stored_responses(app)}
    assert statuses == {ResponseStatus.INVITED}


async def test_unknown_resume_links_are_404_and_rate_limited(client: Client) -> None:
    statuses = [(await client.get(f"/r/guess-{n}")).status_code for n in range(31)]
    assert set(statuses[:30]) == {404}
    assert statuses[30] == 429
    limited = await client.get("/i/another-guess")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0


# --- Tampered forms ----------------------------------------------------------------------------------


async def test_tampered_step_forms_are_400_and_save_nothing(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    values = step_values(content, {}, 0)
    choice = next(i for i in content.questionnaire.steps[0].items if i.type == "single_choice")
    later_item = content.questionnaire.steps[1].items[-1].id
    tampered = [
        {**values, "is_admin": "1"},  # a field the page does not have
        {**values, choice.id: "not-an-option"},  # a code that was not offered
        {**values, choice.id: list(choice.option_codes()[:2])},  # two answers to a one-answer question
        {**values, later_item: "x"},  # a question from another step
        {**values, "action": "delete"},
        {**values, "lock_version": "abc"},
    ]
    for data in tampered:
        page = await client.get(f"{BASE}/step/1")
        form = {
            "_csrf_token": csrf_token(page.text),
            "lock_version": lock_version(page.text),
            "action": "continue",
        }
        form.update(data)
        posted = await client.post(f"{BASE}/step/1", data=form)
        assert posted.status_code == 400, data
        assert "We could not use that" in posted.text
    (stored,) = await stored_responses(app)
    assert stored.answers == {}


async def test_unexpected_input_never_gives_a_500(client: Client, app: Litestar) -> None:
    await start(client)
    page = await client.get(f"{BASE}/step/1")
    token = csrf_token(page.text)
    odd_inputs = [
        {"_csrf_token": token},  # no lock_version
        {"_csrf_token": token, "lock_version": "1", "respondent": "\x00"},
        {"_csrf_token": token, "lock_version": "99999999999999999999999"},
        {"_csrf_token": token, "lock_version": "1", "respondent": "ü" * 5000},
    ]
    for data in odd_inputs:
        posted = await client.post(f"{BASE}/step/1", data=data)
        assert 400 <= posted.status_code < 500, data
    json_body = await client.post(
        f"{BASE}/step/1", json={"respondent": "patient"}, headers={"x-csrftoken": token}
    )
    assert 400 <= json_body.status_code < 500
    assert (await client.get(f"{BASE}/step/not-a-number")).status_code in (400, 404)
    assert (await client.get(f"{BASE}/step/0")).status_code == 404
    submit_extra = await client.post(f"{BASE}/submit", data={"_csrf_token": token, "extra": "1"})
    assert submit_extra.status_code == 400
    submit_bad_lock = await client.post(f"{BASE}/submit", data={"_csrf_token": token, "lock_version": "x"})
    assert submit_bad_lock.status_code == 400
