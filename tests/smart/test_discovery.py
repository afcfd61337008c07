"""Discovery (the SMART configuration and the CapabilityStatement) and static tokens beside SMART."""

from __future__ import annotations

from joserfc.jwk import RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.models import ApiClient
from sdm_service.services import api_clients
from sdm_service.settings import Settings
from sdm_service.smart.discovery import OAUTH_URIS_EXTENSION
from tests.api.conftest import bearer, validate_fhir
from tests.conftest import make_settings
from tests.database import db
from tests.smart.support import TOKEN_URL, assertion, token_form

Client = AsyncTestClient[Litestar]


async def test_the_smart_configuration_names_the_token_endpoint(client: Client) -> None:
    answer = await client.get("/fhir/.well-known/smart-configuration")
    assert answer.status_code == 200
    config = answer.json()
    assert config["token_endpoint"] == TOKEN_URL
    assert config["grant_types_supported"] == ["client_credentials"]
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["capabilities"] == ["client-confidential-asymmetric"]
    assert "system/QuestionnaireResponse.cruds" in config["scopes_supported"]


async def test_the_capability_statement_carries_the_oauth_uris_extension(client: Client) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    validate_fhir(statement)
    security = statement["rest"][0]["security"]
    (uris,) = [e for e in security["extension"] if e["url"] == OAUTH_URIS_EXTENSION]
    assert uris["extension"] == [{"url": "token", "valueUri": TOKEN_URL}]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


async def test_static_tokens_keep_their_old_scopes_and_can_be_switched_off(
    client: Client, app: Litestar, database_url: str, ehr: ApiClient, rsa_key: RSAKey
) -> None:
    async with db(app) as session:
        static = (await api_clients.create_api_client(session, "Old EHR", "responses:read")).token
        # A row written before SMART, still holding the old scope names.
        legacy = await api_clients.create_api_client(session, "Older EHR", "system/Task.c")
        legacy.client.scopes = "responses:read invitations:write"
        await session.commit()
    assert static is not None
    assert legacy.token is not None
    assert (await client.get("/fhir/QuestionnaireResponse", headers=bearer(static))).status_code == 200
    assert (await client.get("/api/v1/responses", headers=bearer(legacy.token))).status_code == 200
    refused = await client.post("/fhir/QuestionnaireResponse", json={}, headers=bearer(static))
    assert refused.status_code == 403

    switched_off: Settings = make_settings(database_url, static_api_tokens=False)
    async with AsyncTestClient(app=create_app(switched_off), base_url="http://testserver.local") as strict:
        answer = await strict.get("/api/v1/responses", headers=bearer(static))
        assert answer.status_code == 401
        assert "switched off" in answer.json()["detail"]
        token = (await strict.post("/auth/token", data=token_form(assertion(str(ehr.id), rsa_key)))).json()
        assert (
            await strict.get("/api/v1/responses", headers=bearer(token["access_token"]))
        ).status_code == 200
