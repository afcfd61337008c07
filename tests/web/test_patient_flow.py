"""The patient's way through the questionnaire, over HTTP: start, steps, review, submit, summary."""

from __future__ import annotations

import re

from litestar import Litestar
from sqlalchemy import func, select

from sdm_service.content.logic import enabled_items, missing_required
from sdm_service.models import PatientResponse, QuestionnaireVersion, ResponseStatus
from sdm_service.web.patient import question_step_count, total_step_count
from tests.web.patient_support import (
    BASE,
    Client,
    answer_all,
    content_of,
    csrf_token,
    db,
    input_names,
    lock_version,
    post_step,
    resume_link,
    start,
    step_values,
    stored_responses,
    submit,
)


async def test_welcome_page_explains_and_creates_nothing(client: Client, app: Litestar) -> None:
    page = await client.get(BASE)
    assert page.status_code == 200
    assert "Test Cancer Center" in page.text
    assert 'action="/q/iort-sdm/start"' in page.text
    assert "privacy" in page.text.lower()
    assert page.headers["cache-control"] == "no-store"
    assert await stored_responses(app) == []


async def test_unknown_questionnaire_is_a_friendly_404(client: Client) -> None:
    page = await client.get("/q/no-such-thing")
    assert page.status_code == 404
    assert "<h1>" in page.text


async def test_full_happy_path_to_summary_and_pdf(client: Client, app: Litestar) -> None:
    content = content_of(app)
    first = await start(client)
    total = total_step_count(content.questionnaire)
    assert f"Step 1 of {total}" in first
    assert f"<title>Step 1 of {total}: {content.questionnaire.steps[0].title}" in first
    assert "<progress" in first

    answers = await answer_all(client, content)
    review = await client.get(f"{BASE}/review")
    assert f"Step {total} of {total}" in review.text
    shown = [
        item
        for index in range(question_step_count(content.questionnaire))
        for item in enabled_items(content.questionnaire, answers, index)
        if item.answerable
    ]
    assert review.text.count(">Change<") == len(shown)

    done = await submit(client)
    assert done.status_code == 200
    assert str(done.url).endswith(f"{BASE}/summary")
    assert "Your summary" in done.text
    assert 'href="/q/iort-sdm/summary.pdf"' in done.text

    (stored,) = await stored_responses(app)
    assert stored.status == ResponseStatus.COMPLETED
    assert stored.summary is not None
    assert stored.summary["response_id"] == str(stored.id)
    assert stored.completed_at is not None
    assert stored.conflict_flag == stored.summary["conflict"]["flagged"]
    assert stored.top_priority == stored.summary["most_important"]
    for point in stored.summary["discussion_points"]:
        assert point["title"] in done.text
    assert stored.summary["disclaimer"] in done.text
    async with db(app) as session:
        versions = (await session.execute(select(QuestionnaireVersion))).scalars().all()
    assert [(v.slug, v.version) for v in versions] == [("iort-sdm", content.version)]

    pdf = await client.get(f"{BASE}/summary.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"].startswith("attachment; filename=")
    assert pdf.headers["cache-control"] == "no-store"


async def test_double_submit_is_idempotent(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    await answer_all(client, content)
    review = await client.get(f"{BASE}/review")
    data = {"_csrf_token": csrf_token(review.text), "lock_version": lock_version(review.text)}
    first = await client.post(f"{BASE}/submit", data=data)
    (after_first,) = await stored_responses(app)
    second = await client.post(f"{BASE}/submit", data=data)
    (after_second,) = await stored_responses(app)
    assert first.status_code == second.status_code == 200
    assert str(second.url).endswith(f"{BASE}/summary")
    assert after_second.summary == after_first.summary
    assert after_second.completed_at == after_first.completed_at
    assert after_second.lock_version == after_first.lock_version


async def test_completed_response_cannot_be_edited(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    await answer_all(client, content)
    review = await client.get(f"{BASE}/review")
    await submit(client)
    (before,) = await stored_responses(app)

    # The step pages now lead to the summary; a post from an old tab changes nothing.
    page = await client.get(f"{BASE}/step/1")
    assert str(page.url).endswith(f"{BASE}/summary")
    first_item = next(i for i in content.questionnaire.steps[0].items if i.answerable and i.options)
    other_code = first_item.option_codes()[-1]
    posted = await client.post(
        f"{BASE}/step/1",
        data={
            "_csrf_token": csrf_token(review.text),
            "lock_version": str(before.lock_version),
            "action": "continue",
            first_item.id: other_code,
        },
    )
    assert posted.status_code == 200
    assert "already sent" in posted.text
    (after,) = await stored_responses(app)
    assert after.answers == before.answers
    assert after.summary == before.summary


async def test_going_back_keeps_answers_and_progress(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    values = step_values(content, {}, 0)
    await post_step(client, 1, values)
    back = await post_step(client, 2, {}, action="back")
    assert str(back.url).endswith(f"{BASE}/step/1")
    for item_id, value in values.items():
        expected = value if isinstance(value, str) else value[0]
        assert re.search(rf'name="{item_id}" value="{re.escape(expected)}" checked', back.text) or (
            f'value="{expected}"' in back.text
        )


async def test_skipping_ahead_is_not_possible(client: Client) -> None:
    await start(client)
    jumped = await client.get(f"{BASE}/step/5")
    assert str(jumped.url).endswith(f"{BASE}/step/1")
    review = await client.get(f"{BASE}/review")
    assert str(review.url).endswith(f"{BASE}/step/1")
    missing_step = await client.get(f"{BASE}/step/999")
    assert missing_step.status_code == 404


async def test_conditional_follow_up_appears_and_disappears(client: Client, app: Litestar) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    follow_up = next(
        item
        for item in questionnaire.items()
        if item.enable_when and item.enable_when[0].operator == "=" and item.answerable
    )
    condition = follow_up.enable_when[0]
    trigger = questionnaire.item(condition.question)
    trigger_step = questionnaire.step_of(trigger.id)
    follow_step = questionnaire.step_of(follow_up.id)
    assert follow_step > trigger_step, "this test expects the follow-up on a later step"
    other = next(code for code in trigger.option_codes() if code != condition.answer)
    # A rating that does not trigger it for every other condition on the same item too.
    blocking = {c.answer for c in follow_up.enable_when if c.question == trigger.id}
    other = next(code for code in trigger.option_codes() if code not in blocking)

    await start(client)
    answers: dict = {trigger.id: condition.answer}
    for index in range(follow_step):
        values = step_values(content, answers, index)
        answers.update(values)
        result = await post_step(client, index + 1, values)
        if "notice=" in str(result.url):
            result = await post_step(client, index + 1, values)
    page = await client.get(f"{BASE}/step/{follow_step + 1}")
    assert follow_up.id in input_names(page.text)
    follow_value = step_values(content, answers, follow_step)
    assert follow_up.id in follow_value
    await post_step(client, follow_step + 1, follow_value)
    (stored,) = await stored_responses(app)
    assert follow_up.id in stored.answers

    # Change the earlier answer: the follow-up leaves the page and its answer is dropped.
    changed = step_values(content, {**answers, trigger.id: other}, trigger_step)
    await post_step(client, trigger_step + 1, changed)
    page = await client.get(f"{BASE}/step/{follow_step + 1}")
    assert follow_up.id not in input_names(page.text)
    (stored,) = await stored_responses(app)
    assert follow_up.id not in stored.answers
    assert stored.answers[trigger.id] == other


async def test_missing_required_answers_are_listed_and_linked(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    page = await post_step(client, 1, {})
    assert page.status_code == 422
    required = missing_required(content.questionnaire, {}, [0])
    assert required
    assert "<title>Error: Step 1" in page.text
    assert 'class="error-summary"' in page.text
    for item_id in required:
        item = content.questionnaire.item(item_id)
        anchor = f"{item_id}-{item.option_codes()[0]}" if item.option_codes() else item_id
        assert f'href="#{anchor}"' in page.text  # summary links to the field
        assert f'id="{anchor}"' in page.text
        assert f'id="{item_id}-error"' in page.text
        assert re.search(rf'aria-describedby="[^"]*{item_id}-error', page.text)
    assert 'aria-invalid="true"' in page.text
    (stored,) = await stored_responses(app)
    assert stored.answers == {}


async def test_invalid_date_and_long_text_keep_what_was_typed(client: Client, app: Litestar) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    date_item = next(i for i in questionnaire.items() if i.type == "date")
    date_step = questionnaire.step_of(date_item.id)
    await start(client)
    for index in range(date_step):
        await post_step(client, index + 1, step_values(content, {}, index))
    values = step_values(content, {}, date_step)
    page = await post_step(client, date_step + 1, {**values, date_item.id: "2026-02-31"})
    assert page.status_code == 422
    assert 'value="2026-02-31"' in page.text
    assert f'href="#{date_item.id}"' in page.text
    assert "real date" in page.text
    far = await post_step(client, date_step + 1, {**values, date_item.id: "2199-01-01"})
    assert far.status_code == 422
    assert "between" in far.text
    # Choices made on the same page are kept too.
    for item_id, value in values.items():
        if isinstance(value, str):
            assert f'name="{item_id}" value="{value}" checked' in page.text
    ok = await post_step(client, date_step + 1, {**values, date_item.id: ""})
    assert ok.status_code == 200

    text_item = next(i for i in questionnaire.items() if i.type == "text")
    text_step = questionnaire.step_of(text_item.id)
    answers: dict = {}
    for index in range(date_step + 1, text_step):
        vals = step_values(content, answers, index)
        answers.update(vals)
        result = await post_step(client, index + 1, vals)
        if "notice=" in str(result.url):
            await post_step(client, index + 1, vals)
    too_long = "x" * (text_item.max_length + 1)
    page = await post_step(client, text_step + 1, {text_item.id: too_long})
    assert page.status_code == 422
    assert too_long in page.text
    assert f"{text_item.max_length} characters or fewer" in page.text


async def test_save_and_finish_later_shows_the_resume_link(client: Client, app: Litestar) -> None:
    content = content_of(app)
    first = await start(client)
    link = resume_link(first)
    assert link.startswith("http://testserver.local/r/")
    saved = await post_step(client, 1, step_values(content, {}, 0), action="save")
    assert str(saved.url).endswith(f"{BASE}/saved")
    assert resume_link(saved.text) == link
    (stored,) = await stored_responses(app)
    assert stored.answers  # the step was saved
    assert link.rsplit("/", 1)[1] not in (stored.resume_token_hash or "")


async def test_resume_link_brings_everything_back_in_a_fresh_client(client: Client, app: Litestar) -> None:
    content = content_of(app)
    first = await start(client)
    link = resume_link(first)
    values = step_values(content, {}, 0)
    await post_step(client, 1, values)

    # Another browser: no cookies at all (the same app and pool, so one event loop).
    client.cookies.clear()
    assert (await client.get(f"{BASE}/step/1")).status_code == 403
    resumed = await client.get(link.removeprefix("http://testserver.local"))
    assert resumed.status_code == 200
    assert str(resumed.url).endswith(f"{BASE}/step/2")
    back = await client.get(f"{BASE}/step/1")
    for item_id, value in values.items():
        code = value if isinstance(value, str) else value[0]
        assert f'id="{item_id}-{code}" name="{item_id}" value="{code}" checked' in back.text
    assert client.cookies.get("sdm_patient") == link.rsplit("/", 1)[1]


async def test_resume_cookie_is_httponly_and_lax(client: Client) -> None:
    welcome = await client.get(BASE)
    started = await client.post(
        f"{BASE}/start", data={"_csrf_token": csrf_token(welcome.text)}, follow_redirects=False
    )
    assert started.status_code == 303
    set_cookie = started.headers["set-cookie"].lower()
    assert "sdm_patient=" in set_cookie
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert "secure" not in set_cookie  # plain http in tests; production sets Secure


async def test_change_in_another_tab_gives_409_and_keeps_typed_values(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    old_tab = await client.get(f"{BASE}/step/1")
    values = step_values(content, {}, 0)
    await post_step(client, 1, values)  # "the other tab" saves first
    item = next(i for i in content.questionnaire.steps[0].items if i.type == "single_choice")
    typed = item.option_codes()[-1]
    stale = await client.post(
        f"{BASE}/step/1",
        data={
            **values,
            item.id: typed,
            "_csrf_token": csrf_token(old_tab.text),
            "lock_version": lock_version(old_tab.text),
            "action": "continue",
        },
    )
    assert stale.status_code == 409
    assert "changed somewhere else" in stale.text
    assert f'value="{typed}" checked' in stale.text
    assert 'href="/q/iort-sdm/step/1"' in stale.text  # reload
    (stored,) = await stored_responses(app)
    assert stored.answers[item.id] == values[item.id]
    # Choosing Continue on the 409 page saves what they typed.
    again = await client.post(
        f"{BASE}/step/1",
        data={
            **values,
            item.id: typed,
            "_csrf_token": csrf_token(stale.text),
            "lock_version": lock_version(stale.text),
            "action": "continue",
        },
    )
    assert again.status_code == 200
    (stored,) = await stored_responses(app)
    assert stored.answers[item.id] == typed


async def test_review_lists_answers_with_change_links_and_submit_needs_everything(
    client: Client, app: Litestar
) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    await start(client)
    answers = await answer_all(client, content)
    review = await client.get(f"{BASE}/review")
    for index in range(question_step_count(questionnaire)):
        for item in questionnaire.steps[index].items:
            if item.id in answers and item.answerable:
                assert item.text.split()[0] in review.text
                assert f'href="{BASE}/step/{index + 1}#' in review.text

    # Clearing a required answer (from another tab) makes Send list it with a link to fix it.
    required_item = next(i for i in questionnaire.steps[0].items if i.required)
    async with db(app) as session:
        stored = (await session.execute(select(PatientResponse))).scalar_one()
        stored.answers = {k: v for k, v in stored.answers.items() if k != required_item.id}
        session.add(stored)
        await session.commit()
    review = await client.get(f"{BASE}/review")
    refused = await client.post(
        f"{BASE}/submit",
        data={"_csrf_token": csrf_token(review.text), "lock_version": lock_version(review.text)},
    )
    assert refused.status_code == 422
    assert f'href="{BASE}/step/1#{required_item.id}-' in refused.text
    (stored,) = await stored_responses(app)
    assert stored.status == ResponseStatus.IN_PROGRESS


async def test_understanding_check_shows_feedback(client: Client, app: Litestar) -> None:
    content = content_of(app)
    questionnaire = content.questionnaire
    check = next((i for i in questionnaire.items() if i.correct and i.feedback), None)
    if check is None:
        return  # content without a quick check has nothing to show
    index = questionnaire.step_of(check.id)
    await start(client)
    answers: dict = {}
    for before in range(index):
        vals = step_values(content, answers, before)
        answers.update(vals)
        result = await post_step(client, before + 1, vals)
        if "notice=" in str(result.url):
            await post_step(client, before + 1, vals)
    wrong = next(code for code in check.option_codes() if code not in check.correct)
    shown = await post_step(client, index + 1, {check.id: wrong})
    assert str(shown.url).endswith(f"/step/{index + 1}?notice=checked")
    assert check.feedback is not None
    assert check.feedback.split(".")[0] in shown.text
    onward = await post_step(client, index + 1, {check.id: wrong})
    assert str(onward.url).endswith(f"/step/{index + 2}")


async def test_start_post_is_the_only_way_to_create(client: Client, app: Litestar) -> None:
    await client.get(BASE)
    await client.get(f"{BASE}/step/1")
    assert await stored_responses(app) == []
    async with db(app) as session:
        count = (await session.execute(select(func.count()).select_from(PatientResponse))).scalar_one()
    assert count == 0


async def test_welcome_page_offers_to_continue_saved_answers(client: Client, app: Litestar) -> None:
    content = content_of(app)
    await start(client)
    await post_step(client, 1, step_values(content, {}, 0))
    welcome = await client.get(BASE)
    assert "Continue where you left off" in welcome.text
    assert f'href="{BASE}/step/2"' in welcome.text
    assert welcome.headers["referrer-policy"] == "no-referrer"  # pages with links never leak them
