"""Two tabs (or devices) saving the same answers at once: one save wins, every other writer is told
(409) and sees what it typed, kept on the page; nothing is silently overwritten."""

from __future__ import annotations

import asyncio
import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.db import create_engine
from sdm_service.models import PatientResponse
from sdm_service.security import hash_token
from tests.web.patient_support import (
    BASE,
    answer_all,
    content_of,
    csrf_token,
    lock_version,
    patient_token,
    start,
)


async def stored_answers(app: Litestar, client: AsyncTestClient[Litestar]) -> dict[str, object]:
    # Its own engine: the test client serves the app's engine on another event loop.
    engine = create_engine(app.state.settings)
    try:
        async with AsyncSession(engine) as session:
            token_hash = hash_token(patient_token(client))
            response = (
                await session.execute(
                    select(PatientResponse).where(col(PatientResponse.resume_token_hash) == token_hash)
                )
            ).scalar_one()
            return dict(response.answers)
    finally:
        await engine.dispose()


def checked_code(html: str, item_id: str) -> str | None:
    match = re.search(rf'name="{item_id}" value="([^"]+)" checked', html)
    return match.group(1) if match else None


async def test_concurrent_saves_of_one_step_never_overwrite_each_other(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    content = content_of(app)
    first_step = await start(client)
    respondent = content.questionnaire.item("respondent")
    codes = [option.code for option in respondent.options]
    assert len(codes) >= 2
    base = {
        "_csrf_token": csrf_token(first_step),
        "lock_version": lock_version(first_step),  # every tab read the same version
        "action": "save",
        "cancer_type": content.questionnaire.item("cancer_type").options[0].code,
        "decision_stage": content.questionnaire.item("decision_stage").options[0].code,
    }

    results = await asyncio.gather(
        *(
            client.post(f"{BASE}/step/1", data={**base, "respondent": code}, follow_redirects=False)
            for code in codes
        )
    )

    saved = [code for code, result in zip(codes, results, strict=True) if result.status_code == 303]
    refused = [
        (code, result) for code, result in zip(codes, results, strict=True) if result.status_code == 409
    ]
    assert len(saved) == 1, [result.status_code for result in results]
    assert len(refused) == len(codes) - 1
    for code, result in refused:
        assert checked_code(result.text, "respondent") == code  # the later writer's input is kept
        assert "another" in result.text.lower() or "changed" in result.text.lower()
    assert (await stored_answers(app, client))["respondent"] == saved[0]


async def test_a_stale_tab_cannot_overwrite_a_newer_save(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    content = content_of(app)
    first_step = await start(client)
    codes = [option.code for option in content.questionnaire.item("respondent").options]
    form = {
        "_csrf_token": csrf_token(first_step),
        "lock_version": lock_version(first_step),
        "action": "save",
        "cancer_type": content.questionnaire.item("cancer_type").options[0].code,
        "decision_stage": content.questionnaire.item("decision_stage").options[0].code,
    }
    newer = await client.post(f"{BASE}/step/1", data={**form, "respondent": codes[0]}, follow_redirects=False)
    stale = await client.post(f"{BASE}/step/1", data={**form, "respondent": codes[1]}, follow_redirects=False)
    assert newer.status_code == 303
    assert stale.status_code == 409
    assert checked_code(stale.text, "respondent") == codes[1]
    assert (await stored_answers(app, client))["respondent"] == codes[0]


async def test_a_completed_response_cannot_be_changed_by_a_save(
    app: Litestar, client: AsyncTestClient[Litestar]
) -> None:
    content = content_of(app)
    await start(client)
    await answer_all(client, content)
    review = await client.get(f"{BASE}/review")
    submitted = await client.post(
        f"{BASE}/submit",
        data={"_csrf_token": csrf_token(review.text), "lock_version": lock_version(review.text)},
    )
    assert submitted.status_code == 200
    before = await stored_answers(app, client)
    codes = [option.code for option in content.questionnaire.item("respondent").options]
    other = next(code for code in codes if code != before["respondent"])
    late = await client.post(
        f"{BASE}/step/1",
        data={"_csrf_token": csrf_token(review.text), "lock_version": "999", "respondent": other},
        follow_redirects=False,
    )
    assert late.status_code in (303, 409)
    assert await stored_answers(app, client) == before
