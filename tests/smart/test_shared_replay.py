"""Two app instances (two workers) share the replay store: an assertion used at one is refused at
the other. The database store on SQLite and PostgreSQL, and the Redis store."""

from __future__ import annotations

import pytest
from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.models import ApiClient
from sdm_service.settings import Settings
from tests.conftest import REDIS_URL, REQUIRE_REDIS, make_settings
from tests.security.test_rate_limits import redis_unreachable_reason
from tests.smart.support import assertion, token_form


@pytest.fixture(params=["database", "redis"])
async def settings(request: pytest.FixtureRequest, database_url: str) -> Settings:
    if request.param == "redis":
        reason = await redis_unreachable_reason()
        if reason:
            if REQUIRE_REDIS:
                pytest.fail(f"Redis is required here (SDM_REQUIRE_REDIS=1) but {reason}")
            pytest.skip(reason)
    return make_settings(database_url, rate_limit_store=request.param, redis_url=REDIS_URL)


async def test_an_assertion_used_at_one_worker_is_refused_at_another(
    app: Litestar, settings: Settings, ehr: ApiClient, rsa_key: RSAKey
) -> None:
    second = create_app(settings)
    signed = assertion(str(ehr.id), rsa_key)
    async with (
        AsyncTestClient(app=app, base_url="http://testserver.local") as first_worker,
        AsyncTestClient(app=second, base_url="http://testserver.local") as second_worker,
    ):
        assert (await first_worker.post("/auth/token", data=token_form(signed))).status_code == 200
        replayed = await second_worker.post("/auth/token", data=token_form(signed))
        assert replayed.status_code == 401
        assert "jti" in replayed.json()["error_description"]
        # A fresh assertion is fine at either worker, and its token works at the other.
        fresh = await second_worker.post("/auth/token", data=token_form(assertion(str(ehr.id), rsa_key)))
        assert fresh.status_code == 200
        token = fresh.json()["access_token"]
        used = await first_worker.get("/api/v1/responses", headers={"Authorization": f"Bearer {token}"})
        assert used.status_code == 200
