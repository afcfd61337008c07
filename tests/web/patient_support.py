"""Helpers for the patient page tests: read forms the way a browser would and post them back."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.content import Content, ContentLibrary
from sdm_service.content.logic import enabled_answers, enabled_items
from sdm_service.models import PatientResponse
from sdm_service.web.patient import PATIENT_COOKIE, question_step_count
from tests.database import db as db  # re-exported for the test modules

SLUG = "iort-sdm"
BASE = f"/q/{SLUG}"
Client = AsyncTestClient[Litestar]
FormValue = str | list[str]


async def stored_responses(app: Litestar) -> list[PatientResponse]:
    async with db(app) as session:
        return list((await session.execute(select(PatientResponse))).scalars())


def content_of(app: Litestar) -> Content:
    library: ContentLibrary = app.state.library
    return library.get(SLUG)


def csrf_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def lock_version(html: str) -> str:
    match = re.search(r'name="lock_version" value="(\d+)"', html)
    assert match, "the page has no lock_version field"
    return match.group(1)


def resume_link(html: str) -> str:
    match = re.search(r'id="resume-link"[^>]*value="([^"]+)"', html)
    assert match, "the page shows no resume link"
    return unescape(match.group(1))


def input_names(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|textarea)[^>]*\bname="([^"]+)"', html)) - {
        "_csrf_token",
        "lock_version",
    }


def default_value(item: Any, text: str = "Is this right for me?") -> FormValue | None:
    """A valid answer for any answerable item: the first option, or `text`."""
    if item.type == "importance":
        return "very"
    if item.type == "yes_no":
        return "yes"
    if item.type == "single_choice":
        return item.options[0].code
    if item.type == "multiple_choice":
        return [item.options[0].code]
    if item.type == "text":
        return text
    return None  # dates are optional in the content; leave them empty


async def start(client: Client) -> str:
    """Start a new response from the welcome page; returns the first step's HTML."""
    welcome = await client.get(BASE)
    assert welcome.status_code == 200
    response = await client.post(f"{BASE}/start", data={"_csrf_token": csrf_token(welcome.text)})
    assert response.status_code == 200, response.text
    assert str(response.url).endswith(f"{BASE}/step/1")
    return response.text


async def post_step(
    client: Client, number: int, values: dict[str, FormValue], action: str = "continue", **extra: str
) -> Any:
    page = await client.get(f"{BASE}/step/{number}")
    assert page.status_code == 200, page.text
    data: dict[str, Any] = {
        "_csrf_token": csrf_token(page.text),
        "lock_version": lock_version(page.text),
        "action": action,
        **values,
        **extra,
    }
    return await client.post(f"{BASE}/step/{number}", data=data)


def step_values(content: Content, answers: dict[str, Any], index: int) -> dict[str, FormValue]:
    values: dict[str, FormValue] = {}
    for item in enabled_items(content.questionnaire, enabled_answers(content.questionnaire, answers), index):
        if not item.answerable:
            continue
        if item.id in answers:
            values[item.id] = answers[item.id]
        elif (value := default_value(item)) is not None:
            values[item.id] = value
    return values


async def answer_all(client: Client, content: Content, overrides: dict[str, FormValue] | None = None) -> dict:
    """Answer every step (overrides win over defaults) and arrive at the review page."""
    answers: dict[str, Any] = dict(overrides or {})
    last = None
    for index in range(question_step_count(content.questionnaire)):
        values = step_values(content, answers, index)
        answers.update(values)
        last = await post_step(client, index + 1, values)
        # A step may come back once (a new follow-up question, or quick-check feedback): go on.
        if "notice=" in str(last.url):
            values = step_values(content, answers, index)
            answers.update(values)
            last = await post_step(client, index + 1, values)
        assert last.status_code == 200, last.text
    assert last is not None
    assert str(last.url).endswith(f"{BASE}/review"), last.url
    return answers


async def submit(client: Client) -> Any:
    review = await client.get(f"{BASE}/review")
    assert review.status_code == 200, review.text
    return await client.post(
        f"{BASE}/submit",
        data={"_csrf_token": csrf_token(review.text), "lock_version": lock_version(review.text)},
    )


def patient_token(client: Client) -> str:
    token = client.cookies.get(PATIENT_COOKIE)
    assert token, "no patient cookie"
    return token
