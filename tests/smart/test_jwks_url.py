"""A client registered by JWKS URL: fetched from a local HTTP server, cached for its max-age,
fetched again when an assertion names a new kid (a key rotation), within limits."""

from __future__ import annotations

import pytest
from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.smart.jwks import JWKS_REFETCH_LIMIT, JwksError, cache_seconds, check_jwks_url
from tests.smart.conftest import MakeClient
from tests.smart.support import Clock, JwksServer, assertion, new_ec, new_rsa, public_jwks, token_form

Client = AsyncTestClient[Litestar]


async def _grant(client: Client, client_id: str, key: object) -> int:
    answer = await client.post("/auth/token", data=token_form(assertion(client_id, key)))  # type: ignore[arg-type]
    return answer.status_code


async def test_keys_by_url_are_cached_and_refetched_for_a_new_kid(
    client: Client,
    make_client: MakeClient,
    jwks_server: JwksServer,
    clock: Clock,
    request: pytest.FixtureRequest,
) -> None:
    name = f"rotating-{request.node.callspec.id}"
    old, new = new_rsa("2026-old"), new_ec("2026-new")
    url = jwks_server.publish(name, public_jwks(old), cache_control="public, max-age=600")
    ehr = await make_client(jwks_url=url, name="EHR by URL")
    assert jwks_server.fetches[name] == 0  # registering does not fetch

    assert await _grant(client, str(ehr.id), old) == 200
    assert await _grant(client, str(ehr.id), old) == 200
    assert jwks_server.fetches[name] == 1  # the second grant used the cached set

    jwks_server.publish(name, public_jwks(old, new))  # the client rotates in a new key
    assert await _grant(client, str(ehr.id), new) == 200
    assert jwks_server.fetches[name] == 1  # (publish reset the count) one fetch for the unknown kid

    clock.advance(601)  # the cached set's max-age ran out: fetched again, no unknown kid needed
    jwks_server.publish(name, public_jwks(new))
    assert await _grant(client, str(ehr.id), old) == 401  # the old key was withdrawn
    assert jwks_server.fetches[name] == 2  # the expired cache, then once more for the unknown kid


async def test_unknown_kids_refetch_at_most_a_few_times_a_minute(
    client: Client,
    make_client: MakeClient,
    jwks_server: JwksServer,
    rsa_key: RSAKey,
    request: pytest.FixtureRequest,
) -> None:
    name = f"flooded-{request.node.callspec.id}"
    url = jwks_server.publish(name, public_jwks(rsa_key))
    ehr = await make_client(jwks_url=url, name="EHR flooded")
    assert await _grant(client, str(ehr.id), rsa_key) == 200
    strangers = [new_rsa(f"bogus-{n}") for n in range(JWKS_REFETCH_LIMIT.max_hits + 2)]
    for stranger in strangers:
        assert await _grant(client, str(ehr.id), stranger) == 401
    assert jwks_server.fetches[name] == 1 + JWKS_REFETCH_LIMIT.max_hits


async def test_a_jwks_url_that_fails_or_is_too_big_refuses_the_client(
    client: Client,
    make_client: MakeClient,
    jwks_server: JwksServer,
    rsa_key: RSAKey,
    request: pytest.FixtureRequest,
) -> None:
    suffix = request.node.callspec.id
    huge = jwks_server.publish(f"huge-{suffix}", b'{"keys": [' + b" " * (70 * 1024) + b"]}")
    missing = f"{jwks_server.base}/nothing-here-{suffix}.json"
    private = jwks_server.publish(f"private-{suffix}", {"keys": [rsa_key.as_dict(private=True)]})
    for url in (huge, missing, private):
        ehr = await make_client(jwks_url=url, name=f"EHR {url[-30:]}")
        answer = await client.post("/auth/token", data=token_form(assertion(str(ehr.id), rsa_key)))
        assert answer.status_code == 401, url
        assert answer.json()["error"] == "invalid_client"


def test_jwks_urls_must_be_https_in_production_and_cache_headers_are_read() -> None:
    assert check_jwks_url("http://ehr.example/jwks", production=False) == "http://ehr.example/jwks"
    assert check_jwks_url("https://ehr.example/jwks", production=True) == "https://ehr.example/jwks"
    for url, production in (
        ("http://ehr.example/jwks", True),
        ("ftp://ehr.example/j", False),
        ("/jwks", False),
    ):
        with pytest.raises(JwksError):
            check_jwks_url(url, production=production)
    assert cache_seconds("public, max-age=120") == 120
    assert cache_seconds("no-store") == 0
    assert cache_seconds("") == 300
    assert cache_seconds("max-age=99999999") == 24 * 3600
