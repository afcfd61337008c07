"""A patient in a real browser: every step by its visible labels, resume elsewhere, fix an error,
send, see the summary and download the PDF; axe-core finds no WCAG 2.2 AA problems on any page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sdm_service.content import Content
from sdm_service.content.logic import enabled_answers, enabled_items
from sdm_service.content.schema import Item
from sdm_service.web.patient import question_step_count, total_step_count
from tests.browser.conftest import AXE_SCRIPT, CLINIC_NAME, LiveServer
from tests.web.patient_support import default_value

pytestmark = pytest.mark.browser

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
Page = Any  # playwright.async_api.Page; imported lazily so collection works without Playwright


def choice(item: Item, answers: dict[str, Any]) -> str | list[str] | None:
    """The answer this test gives: fixed overrides, otherwise the first option."""
    if item.id in answers:
        return answers[item.id]
    return default_value(item, text="Will I need more treatment later?")


def label_of(item: Item, code: str) -> str:
    return item.option_label(code)  # in the content's language, the fixed scales included


async def new_page(browser: Any, *, width: int = 1280, height: int = 900) -> Page:
    # bypass_csp only lets the test inject axe-core; test_no_csp_violations runs without it.
    context = await browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    context.set_default_timeout(10_000)
    return await context.new_page()


async def assert_accessible(page: Page, what: str) -> None:
    await page.add_script_tag(path=str(AXE_SCRIPT))
    violations = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
            }));
        }""",
        AXE_TAGS,
    )
    assert violations == [], f"axe-core found problems on {what}: {violations}"


async def fill_step(page: Page, content: Content, answers: dict[str, Any], index: int) -> None:
    """Answer the questions on the current step by their visible labels."""
    questionnaire = content.questionnaire
    kept = enabled_answers(questionnaire, answers)
    for item in enabled_items(questionnaire, kept, index):
        value = choice(item, answers)
        if value is None:
            continue
        answers[item.id] = value
        if item.type in ("single_choice", "importance", "yes_no", "multiple_choice"):
            group = page.get_by_role("group", name=item.text)
            for code in [value] if isinstance(value, str) else value:
                await group.get_by_label(label_of(item, code), exact=True).check()
        elif item.type == "text":
            await page.get_by_label(item.text).fill(str(value))


async def continue_step(page: Page, number: int) -> None:
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_load_state()
    if "notice=" in page.url:  # a follow-up appeared or quick-check feedback is shown: go on
        await page.get_by_role("button", name="Continue").click()
        await page.wait_for_load_state()


async def answer_steps(
    page: Page, content: Content, answers: dict[str, Any], steps: range, *, check_a11y: bool = False
) -> None:
    total = total_step_count(content.questionnaire)
    for index in steps:
        number = index + 1
        await page.locator("#progress-label").filter(has_text=f"Step {number} of {total}").wait_for()
        step_title = content.questionnaire.steps[index].title
        title = (await page.title()).removeprefix("Error: ")  # step 1 may still show its errors
        assert title == f"Step {number} of {total}: {step_title} \u2013 {CLINIC_NAME}"
        if check_a11y:
            await assert_accessible(page, f"step {number}")
        await fill_step(page, content, answers, index)
        await continue_step(page, number)


async def start(page: Page, live_server: LiveServer) -> None:
    await page.goto(f"{live_server.url}/q/iort-sdm")
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url(re.compile(r"/step/1$"))


async def test_complete_questionnaire_by_labels_and_get_the_summary(
    browser: Any, live_server: LiveServer
) -> None:
    content = live_server.content
    page = await new_page(browser)
    await page.goto(f"{live_server.url}/q/iort-sdm")
    assert CLINIC_NAME in await page.text_content("header")
    await assert_accessible(page, "the welcome page")
    await page.get_by_role("button", name="Start").click()

    # Continue without answering: errors are summarised at the top and linked to the fields.
    await page.wait_for_url(re.compile(r"/step/1$"))
    await page.get_by_role("button", name="Continue").click()
    summary = page.get_by_role("alert").filter(has_text="Please check your answers")
    await summary.wait_for()
    assert (await page.title()).startswith("Error: Step 1")
    await assert_accessible(page, "step 1 with errors")
    first_link = summary.get_by_role("link").first
    target = (await first_link.get_attribute("href") or "").lstrip("#")
    await first_link.click()
    assert await page.evaluate("document.activeElement.id") == target

    answers: dict[str, Any] = {"own_questions": "Can I have IORT near home?"}
    await answer_steps(
        page, content, answers, range(question_step_count(content.questionnaire)), check_a11y=True
    )

    await page.wait_for_url(re.compile(r"/review$"))
    await assert_accessible(page, "the review page")
    assert (
        await page.get_by_role("link", name=re.compile("^Change")).count()
        >= len([a for a in answers if a in {i.id for i in content.questionnaire.items()}]) - 1
    )
    await page.get_by_role("button", name="Send my answers").click()
    await page.wait_for_url(re.compile(r"/summary$"))
    await page.get_by_role("heading", name="Your summary", level=1).wait_for()
    assert "Can I have IORT near home?" in await page.text_content("main")
    await assert_accessible(page, "the summary page")

    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download your summary (PDF)").first.click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".pdf")
    await page.context.close()


async def test_leave_midway_and_resume_in_a_fresh_browser(browser: Any, live_server: LiveServer) -> None:
    content = live_server.content
    page = await new_page(browser)
    await start(page, live_server)
    answers: dict[str, Any] = {}
    await answer_steps(page, content, answers, range(2))
    await page.get_by_role("button", name="Save and finish later").click()
    await page.get_by_role("heading", name="Your answers are saved").wait_for()
    await assert_accessible(page, "the saved page")
    link = await page.get_by_label("Your personal link").input_value()
    assert link.startswith(f"{live_server.url}/r/")
    await page.context.close()

    other = await new_page(browser, width=390, height=844)
    await other.goto(f"{live_server.url}/q/iort-sdm/step/1")
    assert "We could not find your answers" in await other.text_content("h1")
    await assert_accessible(other, "the no-session page")
    await other.goto(link)
    await other.wait_for_url(re.compile(r"/step/3$"))
    await other.get_by_role("button", name="Back").click()
    await other.wait_for_url(re.compile(r"/step/2$"))
    await other.get_by_role("button", name="Back").click()
    await other.wait_for_url(re.compile(r"/step/1$"))
    first = next(i for i in content.questionnaire.steps[0].items if i.answerable and i.id in answers)
    group = other.get_by_role("group", name=first.text)
    assert await group.get_by_label(label_of(first, answers[first.id]), exact=True).is_checked()
    await other.context.close()


async def test_error_pages_are_accessible(browser: Any, live_server: LiveServer) -> None:
    page = await new_page(browser)
    for path, status_text in (
        ("/i/not-a-real-link", "We do not recognise this link"),
        ("/q/not-a-questionnaire", "Page not found"),
    ):
        response = await page.goto(f"{live_server.url}{path}")
        assert response is not None
        assert response.status == 404
        assert status_text in await page.text_content("h1")
        await assert_accessible(page, path)
    await page.context.close()


async def test_small_screen_has_no_sideways_scrolling_and_large_targets(
    browser: Any, live_server: LiveServer
) -> None:
    page = await new_page(browser, width=360, height=740)
    await start(page, live_server)
    for index in range(2):
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"page is {width}px wide on a 360px screen"
        targets = await page.evaluate(
            """() => [...document.querySelectorAll('main button, main .choice label, main a.button, summary')]
                .map(el => ({
                    text: el.textContent.trim().slice(0, 40), h: el.getBoundingClientRect().height,
                }))"""
        )
        small = [t for t in targets if t["h"] < 44]
        assert small == [], f"tap targets under 44px: {small}"
        await fill_step(page, live_server.content, {}, index)
        await continue_step(page, index + 1)
    await page.context.close()


async def test_double_zoom_keeps_everything_usable(browser: Any, live_server: LiveServer) -> None:
    # 200% zoom on a 1280px window is a 640 CSS px wide layout with doubled pixels.
    context = await browser.new_context(viewport={"width": 640, "height": 450}, device_scale_factor=2)
    page = await context.new_page()
    await start(page, live_server)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 640
    await page.get_by_role("button", name="Continue").scroll_into_view_if_needed()
    assert await page.get_by_role("button", name="Continue").is_visible()
    await context.close()


async def test_no_csp_violations_without_bypass(browser: Any, live_server: LiveServer) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None,
    )
    await start(page, live_server)
    # The optional script loads under the policy and adds its copy button to the resume link.
    await page.get_by_text("Your personal link to come back later").click()
    await page.get_by_role("button", name="Copy link").wait_for()
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_load_state()
    assert problems == []
    await context.close()
