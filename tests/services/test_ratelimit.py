from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar

from sdm_service import ratelimit
from sdm_service.models import utcnow

LIMIT = ratelimit.Limit(bucket="test", max_hits=3, window_seconds=60)


async def test_blocks_after_the_limit_with_a_retry_after(app: Litestar) -> None:
    engine = app.state.db_engine
    for _ in range(3):
        await ratelimit.enforce(engine, LIMIT, "1.2.3.4")
    with pytest.raises(ratelimit.RateLimited) as caught:
        await ratelimit.enforce(engine, LIMIT, "1.2.3.4")
    assert caught.value.status_code == 429
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 61
    # Another key is counted separately.
    await ratelimit.enforce(engine, LIMIT, "5.6.7.8")


async def test_hits_older_than_the_window_do_not_count(app: Litestar) -> None:
    engine = app.state.db_engine
    long_ago = utcnow() - timedelta(seconds=120)
    for _ in range(3):
        await ratelimit.hit(engine, LIMIT, "k", now=long_ago)
    assert await ratelimit.retry_after(engine, LIMIT, "k") is None


async def test_clear_forgets_a_key(app: Litestar) -> None:
    engine = app.state.db_engine
    for _ in range(3):
        await ratelimit.hit(engine, LIMIT, "user")
    assert await ratelimit.retry_after(engine, LIMIT, "user") is not None
    await ratelimit.clear(engine, LIMIT, "user")
    assert await ratelimit.retry_after(engine, LIMIT, "user") is None
