"""The SMART token endpoint: what a well-behaved EHR gets, and every way an assertion is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.models import ApiClient, AuditEvent, SmartAccessToken
from sdm_service.security import hash_token
from sdm_service.settings import Settings
from tests.api.conftest import bearer, completed_response
from tests.database import db
from tests.smart.conftest import MakeClient
from tests.smart.support import Clock, assertion, token_form

Client = AsyncTestClient[Litestar]
TOKEN_PATH = "/auth/token"


async def ask(client: Client, form: dict[str, str]) -> Any:
    return await client.post(TOKEN_PATH, data=form)


async def actions(app: Litestar, action: str) -> list[AuditEvent]:
    async with db(app) as session:
        return list((await session.execute(select(AuditEvent).where(AuditEvent.action == action))).scalars())


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
async def test_a_good_assertion_gets_a_short_lived_token_that_opens_fhir(
    client: Client, app: Litestar, ehr: ApiClient, key_name: str, request: pytest.FixtureRequest
) -> None:
    key = request.getfixturevalue(key_name)
    scope = "system/QuestionnaireResponse.rs system/Binary.r"
    answer = await ask(client, token_form(assertion(str(ehr.id), key), scope))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 300
    assert body["scope"] == scope
    assert answer.headers["cache-control"] == "no-store"
    token = body["access_token"]
    async with db(app) as session:
        stored = (await session.execute(select(SmartAccessToken))).scalar_one()
    assert stored.token_hash == hash_token(token)  # only the hash is kept
    assert stored.client_id == ehr.id
    search = await client.get("/fhir/QuestionnaireResponse", headers=bearer(token))
    assert search.status_code == 200, search.text
    (granted,) = await actions(app, "smart.token.granted")
    assert granted.actor_id == str(ehr.id)
    assert granted.detail["scope"] == scope


async def test_without_a_scope_the_registered_scopes_are_granted(
    client: Client, ehr: ApiClient, rsa_key: RSAKey
) -> None:
    answer = await ask(client, token_form(assertion(str(ehr.id), rsa_key)))
    assert answer.status_code == 200
    assert answer.json()["scope"].split() == ehr.scopes.split()


# Claims as offsets from the moment the test runs (not from collection: a full suite run collects
# this file many minutes before it runs it), or as plain values.
REFUSALS: list[tuple[str, dict[str, Any]]] = [
    ("expired", {"exp": -120, "iat": -400}),
    ("exp more than five minutes ahead", {"exp": 600}),
    ("iat in the future", {"iat": 600}),
    ("nbf in the future", {"nbf": 600}),
    ("wrong aud", {"aud": "https://elsewhere.example/token"}),
    ("no exp", {"exp": None}),
    ("no jti", {"jti": None}),
    ("sub is not the client", {"sub": "someone-else"}),
]
TIME_CLAIMS = frozenset({"exp", "iat", "nbf"})


@pytest.mark.parametrize(("case", "offsets"), REFUSALS, ids=[case for case, _ in REFUSALS])
async def test_bad_claims_are_invalid_client(
    client: Client, app: Litestar, ehr: ApiClient, rsa_key: RSAKey, case: str, offsets: dict[str, Any]
) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        name: now + value if name in TIME_CLAIMS and isinstance(value, int) else value
        for name, value in offsets.items()
    }
    answer = await ask(client, token_form(assertion(str(ehr.id), rsa_key, **claims)))
    assert answer.status_code == 401, case
    assert answer.json()["error"] == "invalid_client"
    assert answer.json()["error_description"]
    (refused,) = await actions(app, "smart.token.refused")
    assert refused.entity_id == str(ehr.id)
    assert refused.detail["error"] == "invalid_client"
    async with db(app) as session:
        assert (await session.execute(select(SmartAccessToken))).first() is None


async def test_a_replayed_jti_is_refused(client: Client, ehr: ApiClient, rsa_key: RSAKey) -> None:
    signed = assertion(str(ehr.id), rsa_key)
    assert (await ask(client, token_form(signed))).status_code == 200
    again = await ask(client, token_form(signed))
    assert again.status_code == 401
    assert "jti" in again.json()["error_description"]
    same_jti = assertion(
        str(ehr.id), rsa_key, jti=jwt.decode(signed, rsa_key, algorithms=["RS384"]).claims["jti"]
    )
    assert (await ask(client, token_form(same_jti))).status_code == 401


async def test_an_unknown_kid_is_refused(client: Client, ehr: ApiClient) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-registered"})
    answer = await ask(client, token_form(assertion(str(ehr.id), stranger)))
    assert answer.status_code == 401
    assert "not-registered" in answer.json()["error_description"]


@pytest.mark.filterwarnings("ignore:JWS algorithm")  # joserfc warns when asked to build an alg=none token
async def test_alg_none_and_hs256_are_refused(client: Client, ehr: ApiClient, rsa_key: RSAKey) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": str(ehr.id),
        "sub": str(ehr.id),
        "aud": "http://testserver.local/auth/token",
        "exp": now + 60,
    }
    unsigned = jwt.encode(
        {"alg": "none", "kid": rsa_key.kid}, {**claims, "jti": "a"}, None, algorithms=["none"]
    )
    # A shared secret under the registered key's kid (joserfc itself refuses to use the RSA public
    # key as an HMAC secret, the classic algorithm-confusion attack).
    secret = OctKey.generate_key(256, parameters={"kid": rsa_key.kid})
    hmac = jwt.encode(
        {"alg": "HS256", "kid": rsa_key.kid}, {**claims, "jti": "b"}, secret, algorithms=["HS256"]
    )
    for signed in (unsigned, hmac):
        answer = await ask(client, token_form(signed))
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_client"
        assert "RS384 or ES384" in answer.json()["error_description"]


async def test_a_key_of_another_client_is_refused(
    client: Client, make_client: MakeClient, ehr: ApiClient, other_key: RSAKey
) -> None:
    other = await make_client(other_key, name="Other EHR")
    assert (await ask(client, token_form(assertion(str(other.id), other_key)))).status_code == 200
    # The other client's key, its own kid: not in this client's JWKS.
    borrowed = await ask(client, token_form(assertion(str(ehr.id), other_key)))
    assert borrowed.status_code == 401
    # The other client's key under this client's kid: the signature does not verify.
    disguised = RSAKey.import_key(other_key.as_dict(private=True) | {"kid": "ehr-rsa-1"})
    forged = await ask(client, token_form(assertion(str(ehr.id), disguised)))
    assert forged.status_code == 401
    assert "signature" in forged.json()["error_description"]


async def test_a_scope_not_granted_is_invalid_scope(
    client: Client, make_client: MakeClient, rsa_key: RSAKey
) -> None:
    reader = await make_client(rsa_key, scopes="system/QuestionnaireResponse.r")
    for scope in ("system/QuestionnaireResponse.rs", "system/Task.c", "system/Nothing.r", "patient/Task.r"):
        answer = await ask(client, token_form(assertion(str(reader.id), rsa_key), scope))
        assert answer.status_code == 400, scope
        assert answer.json()["error"] == "invalid_scope"


async def test_malformed_requests_get_their_oauth_error(
    client: Client, ehr: ApiClient, rsa_key: RSAKey
) -> None:
    signed = assertion(str(ehr.id), rsa_key)
    cases = [
        ({**token_form(signed), "grant_type": "password"}, 400, "unsupported_grant_type"),
        ({**token_form(signed), "client_assertion_type": "x"}, 400, "invalid_request"),
        ({**token_form(signed), "client_assertion": "not.a.jwt"}, 400, "invalid_request"),
        ({**token_form(signed), "client_id": "someone-else"}, 401, "invalid_client"),
        (token_form(assertion("not-a-client-id", rsa_key)), 401, "invalid_client"),
    ]
    for form, status, error in cases:
        answer = await ask(client, form)
        assert (answer.status_code, answer.json()["error"]) == (status, error), form
    as_json = await client.post(TOKEN_PATH, json=token_form(signed))
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


async def test_a_token_stops_working_after_its_lifetime_and_on_revocation(
    client: Client, app: Litestar, ehr: ApiClient, rsa_key: RSAKey, clock: Clock
) -> None:
    token = (await ask(client, token_form(assertion(str(ehr.id), rsa_key)))).json()["access_token"]
    assert (await client.get("/api/v1/responses", headers=bearer(token))).status_code == 200
    clock.advance(301)
    late = await client.get("/api/v1/responses", headers=bearer(token))
    assert late.status_code == 401
    assert 'error="invalid_token"' in late.headers["www-authenticate"]

    fresh = (await ask(client, token_form(assertion(str(ehr.id), rsa_key, now=clock())))).json()[
        "access_token"
    ]
    assert (await client.get("/api/v1/responses", headers=bearer(fresh))).status_code == 200
    async with db(app) as session:
        stored = await session.get(ApiClient, ehr.id)
        assert stored is not None
        stored.revoked_at = clock()
        await session.commit()
    assert (await client.get("/api/v1/responses", headers=bearer(fresh))).status_code == 401
    refused = await ask(client, token_form(assertion(str(ehr.id), rsa_key, now=clock())))
    assert refused.status_code == 401


async def test_read_and_search_are_distinct_scopes(
    client: Client, app: Litestar, settings: Settings, make_client: MakeClient, ec_key: ECKey
) -> None:
    row = await completed_response(app, settings)
    reader = await make_client(ec_key, scopes="system/QuestionnaireResponse.r system/Binary.r", name="reader")
    token = (await ask(client, token_form(assertion(str(reader.id), ec_key)))).json()["access_token"]
    assert (
        await client.get(f"/fhir/QuestionnaireResponse/{row.id}", headers=bearer(token))
    ).status_code == 200
    assert (await client.get(f"/api/v1/responses/{row.id}", headers=bearer(token))).status_code == 200
    for path in ("/fhir/QuestionnaireResponse", "/api/v1/responses"):
        refused = await client.get(path, headers=bearer(token))
        assert refused.status_code == 403, path
        assert "system/QuestionnaireResponse.s" in refused.text
    assert (await client.get(f"/fhir/DocumentReference/{row.id}", headers=bearer(token))).status_code == 403
    assert (await client.get(f"/fhir/Binary/{row.id}", headers=bearer(token))).status_code == 200

    searcher = await make_client(ec_key, scopes="system/QuestionnaireResponse.s", name="searcher")
    token = (await ask(client, token_form(assertion(str(searcher.id), ec_key)))).json()["access_token"]
    assert (await client.get("/fhir/QuestionnaireResponse", headers=bearer(token))).status_code == 200
    assert (
        await client.get(f"/fhir/QuestionnaireResponse/{row.id}", headers=bearer(token))
    ).status_code == 403
    created = await client.post(
        "/api/v1/invitations", json={"patient": {"value": "MRN-77"}}, headers=bearer(token)
    )
    assert created.status_code == 403
    assert "system/Task.c" in created.json()["detail"]
