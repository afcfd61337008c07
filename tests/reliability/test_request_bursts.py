"""A burst of refused requests (wrong links) must not starve the database pool: every one gets a
clear 4xx, never a 503, and the service keeps answering. Each refusal writes a rate-limit hit on its
own connection while the request's session holds another; with one shared pool that deadlocked."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.live import LiveServer

BURST = 120


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(sqlite_url, tmp_path / "server.log", workers=1)
    live.start()
    yield live
    live.stop()


async def _burst(base_url: str) -> Counter[int]:
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def guess(number: int) -> int:
            prefix = "/r/" if number % 2 else "/i/"
            response = await client.get(prefix + secrets.token_urlsafe(32))
            return response.status_code

        statuses = await asyncio.gather(*(guess(n) for n in range(BURST)))
        health = await client.get("/health")
    assert health.status_code == 200
    return Counter(statuses)


@pytest.mark.slow
def test_a_burst_of_wrong_links_gets_4xx_answers_and_no_server_error(server: LiveServer) -> None:
    statuses = asyncio.run(_burst(server.base_url))
    assert all(status < 500 for status in statuses), statuses
    assert statuses[429] > 0, f"the link-guessing limit never applied: {statuses}"
    assert not server.server_errors_logged()
