"""Fixtures for the SMART Backend Services tests: keys (made once per session), a JWKS server,
an app whose clock the test can move, and registered SMART clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.models import ApiClient
from sdm_service.services import api_clients
from sdm_service.settings import Settings
from tests.database import db
from tests.smart.support import ALL_SMART_SCOPES, Clock, JwksServer, new_ec, new_rsa, public_jwks

MakeClient = Callable[..., Awaitable[ApiClient]]


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return new_rsa("ehr-rsa-1")


@pytest.fixture(scope="session")
def ec_key() -> ECKey:
    return new_ec("ehr-ec-1")


@pytest.fixture(scope="session")
def other_key() -> RSAKey:
    return new_rsa("other-ehr-1")


@pytest.fixture(scope="session")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@pytest.fixture
def make_client(app: Litestar) -> MakeClient:
    async def make(
        *keys: Any, scopes: str = ALL_SMART_SCOPES, name: str | None = None, jwks_url: str | None = None
    ) -> ApiClient:
        async with db(app) as session:
            created = await api_clients.create_api_client(
                session,
                name or f"EHR {len(keys)} {scopes}"[:100],
                scopes,
                jwks=None if jwks_url else public_jwks(*keys),
                jwks_url=jwks_url,
            )
            await session.commit()
        assert created.token is None
        return created.client

    return make


@pytest.fixture
async def ehr(make_client: MakeClient, rsa_key: RSAKey, ec_key: ECKey) -> ApiClient:
    """A SMART client registered with an RSA and an EC key and every scope."""
    return await make_client(rsa_key, ec_key, name="Hospital EHR")
