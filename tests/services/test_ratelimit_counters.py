"""The database store's counters: refused requests are not counted, and Retry-After waits until
enough of the oldest hits have left the window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service import ratelimit
from sdm_service.models import RateCounter, utcnow


async def test_a_refused_request_is_not_counted(app: Litestar) -> None:
    store = app.state.rate_limit_store
    engine = app.state.side_engine
    limit = ratelimit.Limit(bucket="refused", max_hits=2, window_seconds=60)
    for _ in range(2):
        await ratelimit.enforce(store, limit, "client")
    for _ in range(3):
        with pytest.raises(ratelimit.RateLimited):
            await ratelimit.enforce(store, limit, "client")
    async with AsyncSession(engine) as session:
        counted = await session.scalar(
            select(func.sum(RateCounter.hits)).where(RateCounter.bucket == "refused")
        )
    assert counted == 2  # only the allowed requests


async def test_retry_after_waits_until_enough_old_hits_have_left(app: Litestar) -> None:
    store = app.state.rate_limit_store
    limit = ratelimit.Limit(bucket="busy", max_hits=3, window_seconds=600)
    now = utcnow()
    await ratelimit.hit(store, limit, "k", now=now - timedelta(seconds=500))
    await ratelimit.hit(store, limit, "k", now=now - timedelta(seconds=300))
    await ratelimit.hit(store, limit, "k", now=now - timedelta(seconds=300))
    # Three hits: one more is allowed once the oldest (500 s ago) leaves, in about 100 s.
    wait = await ratelimit.retry_after(store, limit, "k", now=now)
    assert wait is not None
    assert 85 <= wait <= 101
    await ratelimit.hit(store, limit, "k", now=now - timedelta(seconds=100))
    # Four: the two hits of 300 s ago must leave too, in about 300 s.
    wait = await ratelimit.retry_after(store, limit, "k", now=now)
    assert wait is not None
    assert 285 <= wait <= 301


async def test_take_back_uncounts_the_newest_hit_even_a_slot_old(app: Litestar) -> None:
    store = app.state.rate_limit_store
    engine = app.state.side_engine
    limit = ratelimit.Limit(bucket="taken-back", max_hits=2, window_seconds=600)
    now = utcnow()
    await ratelimit.hit(store, limit, "k", now=now - timedelta(seconds=500))
    await ratelimit.hit(store, limit, "k", now=now - timedelta(seconds=100))
    assert await ratelimit.retry_after(store, limit, "k") is not None
    await ratelimit.take_back(store, limit, "k")
    assert await ratelimit.retry_after(store, limit, "k") is None
    async with AsyncSession(engine) as session:
        slots = (
            await session.execute(
                select(RateCounter.slot_start, RateCounter.hits)
                .where(RateCounter.bucket == "taken-back")
                .order_by(RateCounter.slot_start)
            )
        ).all()
    assert [hits for _, hits in slots] == [1, 0]  # the newer hit went, the older one stays
    await ratelimit.take_back(store, limit, "k")
    await ratelimit.take_back(store, limit, "k")  # nothing left: no negative counts
    async with AsyncSession(engine) as session:
        counted = await session.scalar(
            select(func.sum(RateCounter.hits)).where(RateCounter.bucket == "taken-back")
        )
    assert counted == 0
