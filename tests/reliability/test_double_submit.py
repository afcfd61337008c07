"""A double click on Send: two concurrent submits of one response against a real server. One
completes it, the other lands on the summary too; never a server error (issue 15 item 7)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar

from sdm_service.content import Content
from tests.reliability.live import LiveServer
from tests.web.patient_support import BASE, answer_all, content_of, csrf_token, lock_version, start

TRIALS = 3


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(database_url, tmp_path / "server.log", workers=2)
    live.start()
    yield live
    live.stop()


async def _double_click(base_url: str, content: Content) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60, follow_redirects=True) as patient:
        client = cast(Any, patient)  # the page helpers drive any httpx-style client
        await start(client)
        await answer_all(client, content)
        review = await patient.get(f"{BASE}/review")
        form = {"_csrf_token": csrf_token(review.text), "lock_version": lock_version(review.text)}
        return list(
            await asyncio.gather(
                patient.post(f"{BASE}/submit", data=form, follow_redirects=False),
                patient.post(f"{BASE}/submit", data=form, follow_redirects=False),
            )
        )


@pytest.mark.slow
def test_a_double_click_on_send_lands_both_requests_on_the_summary(server: LiveServer, app: Litestar) -> None:
    content = content_of(app)
    for _ in range(TRIALS):
        answers = asyncio.run(_double_click(server.base_url, content))
        assert [answer.status_code for answer in answers] == [303, 303], [
            (answer.status_code, answer.text[:200]) for answer in answers
        ]
        assert all(answer.headers["location"] == f"{BASE}/summary" for answer in answers)
    assert not server.server_errors_logged(), server.log_tail()
