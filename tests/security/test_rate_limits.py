"""Link guessing and API floods get 429 with Retry-After, counted in a store every worker shares
(the database by default, Redis when configured)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service import ratelimit
from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.models import RateCounter, utcnow
from sdm_service.settings import Settings
from sdm_service.web.patient.visit import BAD_COOKIE_LIMIT, START_LIMIT
from tests.conftest import REDIS_URL, REQUIRE_REDIS, make_settings
from tests.security import probes
from tests.web.patient_support import csrf_token

Client = AsyncTestClient[Litestar]
LIMITS: dict[str, object] = {
    "link_lookups_per_window": 3,
    "link_lookup_window_seconds": 600,
    "api_requests_per_window": 4,
    "api_request_window_seconds": 600,
}


async def redis_unreachable_reason() -> str | None:
    import redis.asyncio as redis_asyncio
    from redis.exceptions import RedisError

    client = redis_asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        return f"Redis at {REDIS_URL} is unreachable: {exc}"
    finally:
        await client.aclose()
    return None


async def forget_the_test_client(settings: Settings) -> None:
    """The test client always comes from one address; start each test with no hits for it. (Own
    engine and store: the test client runs the app on another event loop.)"""
    engine = create_engine(settings)
    store = ratelimit.store_from_settings(settings, engine)
    for bucket in ("link-lookup", "api", "api-ip"):
        await store.clear(ratelimit.Limit(bucket, 1, 1), "ip:testclient")
    for limit in (BAD_COOKIE_LIMIT, START_LIMIT):  # the patient pages key by the bare address
        await store.clear(limit, "testclient")
    await store.close()
    await engine.dispose()


@pytest.fixture(params=["database", "redis"])
async def limited_settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    if request.param == "redis":
        reason = await redis_unreachable_reason()
        if reason:
            if REQUIRE_REDIS:
                pytest.fail(f"Redis is required here (SDM_REQUIRE_REDIS=1) but {reason}")
            pytest.skip(reason)
    settings = make_settings(database_url, rate_limit_store=request.param, redis_url=REDIS_URL, **LIMITS)
    await forget_the_test_client(settings)  # Redis keeps its counts from test to test
    return settings


@pytest.fixture
def limited_app(limited_settings: Settings) -> Litestar:
    return probes.add_probes(create_app(limited_settings))


@pytest.fixture
async def client(limited_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=limited_app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.mark.parametrize("prefix", [probes.INVITE, probes.RESUME])
async def test_guessing_links_is_stopped_with_429_and_retry_after(
    client: AsyncTestClient[Litestar], prefix: str
) -> None:
    for attempt in range(3):
        assert (await client.get(f"{prefix}/guess-{attempt}")).status_code == 404
    refused = await client.get(f"{prefix}/guess-last")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 601
    assert "text/html" in refused.headers["content-type"]
    assert "Please wait a moment" in refused.text
    # A working link is looked up first and never throttled: a patient behind the same address
    # as a guesser (a waiting room, a hospital's NAT) still gets in.
    assert (await client.get(f"{prefix}/good")).status_code == 200
    assert (await client.get(f"{prefix}/guess-again")).status_code == 429


async def test_a_concurrent_burst_of_wrong_links_cannot_pass_the_limit(client: Client) -> None:
    """Counting and refusing are one atomic step: a burst sent all at once gets exactly the
    limit's number of 404 answers, the rest 429 (checking first and counting after let 100 of
    300 through against a limit of 30)."""
    statuses = await asyncio.gather(*(client.get(f"{probes.RESUME}/burst-{n}") for n in range(20)))
    codes = sorted(response.status_code for response in statuses)
    assert codes.count(404) == LIMITS["link_lookups_per_window"], codes
    assert codes.count(429) == 20 - 3, codes


async def test_opening_a_real_link_again_and_again_is_not_counted(client: AsyncTestClient[Litestar]) -> None:
    for _ in range(6):
        assert (await client.get(probes.INVITE + "/good")).status_code == 200


async def test_api_calls_are_limited_per_token(client: AsyncTestClient[Litestar]) -> None:
    token_a, token_b = f"token-a-{uuid.uuid4()}", f"token-b-{uuid.uuid4()}"
    for _ in range(4):
        response = await client.get(probes.API, headers={"Authorization": f"Bearer {token_a}"})
        assert response.status_code == 200
    refused = await client.get(probes.API, headers={"Authorization": f"Bearer {token_a}"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"].startswith("application/json")
    assert refused.json()["status_code"] == 429
    # Another client's token has its own allowance.
    other = await client.get(probes.API, headers={"Authorization": f"Bearer {token_b}"})
    assert other.status_code == 200


async def test_a_new_random_token_for_every_call_still_meets_the_per_address_ceiling(
    client: Client, limited_settings: Settings
) -> None:
    """Per-token counting alone would never stop a client that sends a fresh token each time."""
    ceiling = limited_settings.api_address_limit
    assert ceiling == 3 * 4  # the default: three times the per-token limit
    for number in range(ceiling):
        path = probes.FHIR if number % 2 else probes.API
        response = await client.get(path, headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
        assert response.status_code == 200, number
    refused = await client.get(probes.API, headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 601
    assert refused.json()["status_code"] == 429
    fhir = await client.get(probes.FHIR, headers={"Authorization": f"Bearer {uuid.uuid4().hex}"})
    assert fhir.status_code == 429
    assert fhir.json()["resourceType"] == "OperationOutcome"
    assert (await client.get(probes.API)).status_code == 429  # nor without a token


async def test_the_per_address_ceiling_has_its_own_setting(limited_settings: Settings) -> None:
    settings = make_settings(
        limited_settings.database_url,
        rate_limit_store=limited_settings.rate_limit_store,
        redis_url=REDIS_URL,
        **{**LIMITS, "api_requests_per_ip_per_window": 2},
    )
    app = probes.add_probes(create_app(settings))
    statuses = []
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        for _ in range(3):
            fresh_token = {"Authorization": f"Bearer {uuid.uuid4().hex}"}
            statuses.append((await client.get(probes.API, headers=fresh_token)).status_code)
    assert statuses == [200, 200, 429]


async def test_fhir_calls_without_a_token_are_limited_per_address(client: AsyncTestClient[Litestar]) -> None:
    statuses = [(await client.get(probes.FHIR)).status_code for _ in range(5)]
    assert statuses[-1] == 429
    assert 429 not in statuses[:4]


async def test_the_limit_is_shared_by_every_worker(limited_settings: Settings) -> None:
    """Two app instances (as two worker processes) on the same store share one count."""
    worker_1 = probes.add_probes(create_app(limited_settings))
    worker_2 = probes.add_probes(create_app(limited_settings))
    token = f"shared-{uuid.uuid4()}"
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        AsyncTestClient(app=worker_1, base_url="http://testserver.local") as one,
        AsyncTestClient(app=worker_2, base_url="http://testserver.local") as two,
    ):
        for client in (one, two, one, two):
            assert (await client.get(probes.API, headers=headers)).status_code == 200
        assert (await one.get(probes.API, headers=headers)).status_code == 429
        assert (await two.get(probes.API, headers=headers)).status_code == 429


async def test_store_counts_only_hits_inside_the_window(limited_app: Litestar) -> None:
    store = limited_app.state.rate_limit_store
    limit = ratelimit.Limit("unit", max_hits=2, window_seconds=60)
    key = f"k-{uuid.uuid4()}"
    await ratelimit.hit(store, limit, key, now=utcnow() - timedelta(seconds=120))
    await ratelimit.hit(store, limit, key)
    assert await ratelimit.retry_after(store, limit, key) is None
    await ratelimit.hit(store, limit, key, now=utcnow() - timedelta(seconds=30))
    wait = await ratelimit.retry_after(store, limit, key)
    assert wait is not None
    assert 25 <= wait <= 31  # the hit 30 s ago leaves the window in about 30 s
    await ratelimit.clear(store, limit, key)
    assert await ratelimit.retry_after(store, limit, key) is None


async def test_an_unreachable_redis_refuses_with_503_rather_than_not_counting(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, rate_limit_store="redis", redis_url="redis://127.0.0.1:1/0")
    app = probes.add_probes(create_app(settings))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        response = await client.get(probes.API, headers={"Authorization": "Bearer x"})
    assert response.status_code == 503
    assert "limits" in response.json()["detail"]


async def test_fhir_over_the_limit_answers_an_operation_outcome_429(
    client: AsyncTestClient[Litestar],
) -> None:
    headers = {"Authorization": f"Bearer fhir-{uuid.uuid4()}"}
    statuses = [(await client.get("/fhir/metadata", headers=headers)).status_code for _ in range(4)]
    assert 429 not in statuses
    refused = await client.get("/fhir/metadata", headers=headers)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["resourceType"] == "OperationOutcome"


async def test_the_database_store_forgets_keys_that_never_come_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "PURGE_ONE_IN", 1)  # purge on this hit rather than 1 in 200
    settings = make_settings(database_url)
    engine = create_engine(settings)
    limit = ratelimit.Limit("purge", max_hits=5, window_seconds=60)
    try:
        long_ago = utcnow() - timedelta(seconds=600)
        for address in ("10.0.0.1", "10.0.0.2"):
            await ratelimit.DatabaseStore(engine).hit(limit, address, now=long_ago)
        await ratelimit.DatabaseStore(engine).hit(limit, "10.0.0.3")
        async with AsyncSession(engine) as session:
            left = (await session.execute(select(func.count()).select_from(RateCounter))).scalar_one()
    finally:
        await engine.dispose()
    assert left == 1


async def test_enforce_admits_no_more_than_the_limit_when_hits_arrive_together(
    limited_settings: Settings,
) -> None:
    """Count-unless-over is one step in either store: a burst cannot all pass before any counts."""
    engine = create_engine(limited_settings)
    store = ratelimit.store_from_settings(limited_settings, engine)
    limit = ratelimit.Limit("burst", max_hits=5, window_seconds=600)
    key = f"burst-{uuid.uuid4()}"
    try:
        waits = await asyncio.gather(*(store.enforce(limit, key) for _ in range(20)))
        over_after = await store.enforce(limit, key)
        await store.take_back(limit, key)
        one_more = await store.enforce(limit, key)
        again_over = await store.enforce(limit, key)
    finally:
        await store.clear(limit, key)
        await store.close()
        await engine.dispose()
    assert sum(wait is None for wait in waits) == 5
    assert all(wait is None or 1 <= wait <= 601 for wait in waits)
    assert over_after is not None
    assert one_more is None  # one hit taken back: room for exactly one more
    assert again_over is not None


async def test_enforce_many_counts_each_limit_and_stops_at_the_first_refusal(
    limited_settings: Settings,
) -> None:
    """An API request's two counts (per address, per token) in one call: each counts as enforce()
    would, and once the first is over its limit the second is not counted."""
    engine = create_engine(limited_settings)
    store = ratelimit.store_from_settings(limited_settings, engine)
    outer = ratelimit.Limit("many-outer", max_hits=2, window_seconds=600)
    inner = ratelimit.Limit("many-inner", max_hits=5, window_seconds=600)
    outer_key, inner_key = f"o-{uuid.uuid4()}", f"i-{uuid.uuid4()}"
    try:
        waits = [await store.enforce_many([(outer, outer_key), (inner, inner_key)]) for _ in range(3)]
        inner_left = [await store.enforce(inner, inner_key) for _ in range(4)]
    finally:
        for limit, key in ((outer, outer_key), (inner, inner_key)):
            await store.clear(limit, key)
        await store.close()
        await engine.dispose()
    assert waits[:2] == [None, None]
    assert waits[2] is not None  # the outer limit refused the third
    assert 1 <= waits[2] <= 601
    # The inner key counted the two admitted requests only: three more fit under its 5, not four.
    assert inner_left[:3] == [None, None, None]
    assert inner_left[3] is not None


async def test_the_welcome_page_counts_wrong_patient_cookies_and_never_a_working_one(
    client: Client, limited_settings: Settings
) -> None:
    """The welcome page tells whether a patient cookie works (it offers "continue"), so random
    cookies are counted like wrong links: over the limit they get 429; a working cookie from the
    same address is still answered (issue 15 item 3)."""
    name = limited_settings.cookies.patient
    base = "/q/iort-sdm"
    welcome = await client.get(base)
    started = await client.post(f"{base}/start", data={"_csrf_token": csrf_token(welcome.text)})
    assert started.status_code in (200, 303), started.status_code
    working = client.cookies.get(name)
    assert working
    client.cookies.clear()
    limit = BAD_COOKIE_LIMIT.max_hits
    statuses = [
        (await client.get(base, headers={"Cookie": f"{name}={secrets.token_urlsafe(32)}"})).status_code
        for _ in range(limit)
    ]
    assert statuses == [200] * limit
    refused = await client.get(base, headers={"Cookie": f"{name}={secrets.token_urlsafe(32)}"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    for _ in range(3):
        again = await client.get(base, headers={"Cookie": f"{name}={working}"})
        assert again.status_code == 200
        assert f"{base}/step/1" in again.text  # it offers to continue the patient's own answers
