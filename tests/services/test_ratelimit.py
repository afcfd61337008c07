from __future__ import annotations

from datetime import timedelta

import pytest
from litestar import Litestar

from sdm_service import ratelimit
from sdm_service.errors import http_exception_for
from sdm_service.models import utcnow

LIMIT = ratelimit.Limit(bucket="test", max_hits=3, window_seconds=60)


async def test_blocks_after_the_limit_with_a_retry_after(app: Litestar) -> None:
    store = app.state.rate_limit_store
    for _ in range(3):
        await ratelimit.enforce(store, LIMIT, "1.2.3.4")
    with pytest.raises(ratelimit.RateLimited) as caught:
        await ratelimit.enforce(store, LIMIT, "1.2.3.4")
    assert 1 <= caught.value.retry_after <= 61
    answer = http_exception_for(caught.value)  # the one mapping from domain errors to HTTP
    assert answer is not None
    assert answer.status_code == 429
    assert answer.headers == {"Retry-After": str(caught.value.retry_after)}
    # Another key is counted separately.
    await ratelimit.enforce(store, LIMIT, "5.6.7.8")


async def test_hits_older_than_the_window_do_not_count(app: Litestar) -> None:
    store = app.state.rate_limit_store
    long_ago = utcnow() - timedelta(seconds=120)
    for _ in range(3):
        await ratelimit.hit(store, LIMIT, "k", now=long_ago)
    assert await ratelimit.retry_after(store, LIMIT, "k") is None


async def test_clear_forgets_a_key(app: Litestar) -> None:
    store = app.state.rate_limit_store
    for _ in range(3):
        await ratelimit.hit(store, LIMIT, "user")
    assert await ratelimit.retry_after(store, LIMIT, "user") is not None
    await ratelimit.clear(store, LIMIT, "user")
    assert await ratelimit.retry_after(store, LIMIT, "user") is None
