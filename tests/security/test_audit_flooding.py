"""Issue 15 item 5: repeated refusals are counted per key and window, not each written, so a flood of
throttled sign-ins cannot bury other events or grow the database. Only the 1st, 10th, 100th...
refusal of a window is written, with the count so far (events are append-only and chained)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from sdm_service import ratelimit
from sdm_service.app import create_app
from sdm_service.audit import REFUSAL_BUCKET, Actor, is_milestone, record_refusal
from sdm_service.db import create_engine
from sdm_service.models import AuditEvent
from sdm_service.services.audit_query import verify_chain
from sdm_service.services.signin import ACCOUNT_LIMIT, ADDRESS_LIMIT
from sdm_service.settings import Settings
from tests.conftest import REDIS_URL, REQUIRE_REDIS, make_settings
from tests.web.clinician_support import create_account

ACTOR = Actor("anonymous", "", "someone")


async def _events(settings: Settings, action: str) -> Sequence[AuditEvent]:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            query = select(AuditEvent).where(col(AuditEvent.action) == action).order_by(col(AuditEvent.id))
            return (await session.execute(query)).scalars().all()
    finally:
        await engine.dispose()


async def _chain_is_intact(settings: Settings) -> bool:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session:
            return (await verify_chain(session)).intact
    finally:
        await engine.dispose()


def test_milestones_are_powers_of_ten() -> None:
    assert [n for n in range(1, 1001) if is_milestone(n)] == [1, 10, 100, 1000]
    assert not is_milestone(0)


def test_300_concurrent_refusals_of_one_key_write_three_events(database_url: str) -> None:
    settings = make_settings(database_url)

    async def flood() -> None:
        engine = create_engine(settings)
        try:
            await asyncio.gather(
                *(
                    record_refusal(engine, ACTOR, "api.throttled", key="10.0.0.9", ip="10.0.0.9")
                    for _ in range(300)
                )
            )
            await record_refusal(engine, ACTOR, "api.throttled", key="10.0.0.10", ip="10.0.0.10")
        finally:
            await engine.dispose()

    asyncio.run(flood())
    events = asyncio.run(_events(settings, "api.throttled"))
    # Concurrent refusals commit their events in any order; the counts say which is which.
    assert sorted((e.ip, e.detail["refusals_in_window"]) for e in events) == [
        ("10.0.0.10", 1),  # another key has its own count
        ("10.0.0.9", 1),
        ("10.0.0.9", 10),
        ("10.0.0.9", 100),
    ]
    assert asyncio.run(_chain_is_intact(settings))


def test_a_new_window_starts_a_new_count(database_url: str) -> None:
    settings = make_settings(database_url)

    async def refusals(count: int) -> None:
        engine = create_engine(settings)
        try:
            for _ in range(count):
                await record_refusal(engine, ACTOR, "api.throttled", key="k")
        finally:
            await engine.dispose()

    async def end_the_window() -> None:
        engine = create_engine(settings)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.text("UPDATE rate_counters SET expires_at = 0 WHERE bucket = :bucket"),
                    {"bucket": REFUSAL_BUCKET},
                )
        finally:
            await engine.dispose()

    asyncio.run(refusals(3))
    asyncio.run(end_the_window())
    asyncio.run(refusals(1))
    counts = [e.detail["refusals_in_window"] for e in asyncio.run(_events(settings, "api.throttled"))]
    assert counts == [1, 1]


@pytest.fixture(params=["database", "redis"])
async def throttle_settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    if request.param == "redis":
        from tests.security.test_rate_limits import redis_unreachable_reason

        reason = await redis_unreachable_reason()
        if reason:
            if REQUIRE_REDIS:
                pytest.fail(f"Redis is required here (SDM_REQUIRE_REDIS=1) but {reason}")
            pytest.skip(reason)
    settings = make_settings(database_url, rate_limit_store=request.param, redis_url=REDIS_URL)
    engine = create_engine(settings)
    store = ratelimit.store_from_settings(settings, engine)
    await store.clear(ADDRESS_LIMIT, "testclient")  # Redis keeps its counts from test to test
    await store.close()
    await engine.dispose()
    return settings


def test_300_concurrent_throttled_sign_ins_write_a_bounded_number_of_events(
    throttle_settings: Settings,
) -> None:
    """The issue's reproduction: a burst against one account, run concurrently on the app's loop (the
    sync test client called from many threads, as in test_clinician_auth)."""
    app: Litestar = create_app(throttle_settings)
    username = f"flooded.{uuid.uuid4().hex[:8]}"
    asyncio.run(create_account(app, username))
    with TestClient(app=app, base_url="http://testserver.local") as browser:
        browser.get("/clinician/sign-in")
        csrf = browser.cookies.get("sdm_csrf")
        assert csrf

        def attempt(number: int) -> Any:
            form = {"_csrf_token": csrf, "username": username, "password": f"wrong-{number}-password"}
            return browser.post("/clinician/sign-in", data=form, follow_redirects=False).status_code

        with ThreadPoolExecutor(max_workers=24) as pool:
            statuses = sorted(pool.map(attempt, range(300)))
    assert statuses == [401] * ACCOUNT_LIMIT.max_hits + [429] * (300 - ACCOUNT_LIMIT.max_hits)
    throttled = asyncio.run(_events(throttle_settings, "auth.sign_in.throttled"))
    assert sorted(e.detail["refusals_in_window"] for e in throttled) == [1, 10, 100]
    assert all(e.detail["username"] == username for e in throttled)
    assert len(asyncio.run(_events(throttle_settings, "auth.sign_in.failed"))) == ACCOUNT_LIMIT.max_hits
    assert asyncio.run(_chain_is_intact(throttle_settings))
