"""Bearer tokens: 401 without a valid one, 403 without the scope, hashes only, revocation."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service.cli import main
from sdm_service.models import ApiClient, AuditEvent
from sdm_service.security import hash_token
from sdm_service.services import api_clients
from tests.api.conftest import MakeToken, bearer, count_rows, db, validate_fhir
from tests.conftest import TEST_SECRET

PROTECTED = ["/api/v1/responses", "/fhir/QuestionnaireResponse", "/fhir/DocumentReference"]


@pytest.mark.parametrize("path", PROTECTED)
async def test_missing_token_is_401_with_a_bearer_challenge(
    client: AsyncTestClient[Litestar], path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["cache-control"] == "no-store"
    if path.startswith("/fhir"):
        outcome = response.json()
        validate_fhir(outcome)
        assert outcome["issue"][0]["code"] == "login"
        assert "Bearer" in outcome["issue"][0]["diagnostics"]
    else:
        assert "Bearer" in response.json()["detail"]


@pytest.mark.parametrize("path", PROTECTED)
async def test_wrong_and_revoked_tokens_are_401(
    client: AsyncTestClient[Litestar], app: Litestar, make_token: MakeToken, path: str
) -> None:
    token = await make_token(name="to revoke")
    assert (await client.get(path, headers=bearer(token))).status_code == 200
    assert (await client.get(path, headers=bearer(token + "x"))).status_code == 401
    assert (await client.get(path, headers={"Authorization": f"Basic {token}"})).status_code == 401
    async with db(app) as session:
        await api_clients.revoke_api_client(session, "to revoke")
        await session.commit()
    refused = await client.get(path, headers=bearer(token))
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]


async def test_a_token_without_the_scope_is_403(
    client: AsyncTestClient[Litestar], app: Litestar, make_token: MakeToken
) -> None:
    inviter = await make_token("invitations:write")
    for path in PROTECTED:
        response = await client.get(path, headers=bearer(inviter))
        assert response.status_code == 403, path
        assert "responses:read" in response.text
    reader = await make_token("responses:read")
    before = await count_rows(app)
    refused = await client.post(
        "/api/v1/invitations", json={"patient": {"value": "MRN-9"}}, headers=bearer(reader)
    )
    assert refused.status_code == 403
    assert "invitations:write" in refused.json()["detail"]
    pushed = await client.post(
        "/fhir/QuestionnaireResponse",
        content=b"{}",
        headers={**bearer(reader), "Content-Type": "application/fhir+json"},
    )
    assert pushed.status_code == 403
    assert pushed.json()["resourceType"] == "OperationOutcome"
    assert await count_rows(app) == before


async def test_only_a_hash_and_prefix_are_stored_and_use_is_recorded(
    client: AsyncTestClient[Litestar], app: Litestar, make_token: MakeToken
) -> None:
    token = await make_token(name="EHR")
    async with db(app) as session:
        stored = (await session.execute(select(ApiClient))).scalar_one()
        assert stored.token_hash == hash_token(token)
        assert token not in (stored.token_hash, stored.scopes, stored.name)
        assert stored.token_prefix == token[:8]
        assert stored.last_used_at is None
    assert (await client.get("/api/v1/responses", headers=bearer(token))).status_code == 200
    async with db(app) as session:
        assert (await session.execute(select(ApiClient))).scalar_one().last_used_at is not None


async def test_scopes_are_checked_when_a_client_is_created(app: Litestar) -> None:
    async with db(app) as session:
        with pytest.raises(api_clients.ApiClientError, match="Unknown scope"):
            await api_clients.create_api_client(session, "EHR", "responses:read,admin")
        with pytest.raises(api_clients.ApiClientError, match="at least one scope"):
            await api_clients.create_api_client(session, "EHR", " , ")
        created = await api_clients.create_api_client(session, "EHR", "responses:read responses:read")
        assert created.client.scopes == (
            "system/QuestionnaireResponse.rs system/DocumentReference.rs system/Binary.r"
        )
        with pytest.raises(api_clients.ApiClientError, match="already exists"):
            await api_clients.create_api_client(session, "EHR", "responses:read")


async def _cli(database_url: str, *args: str) -> tuple[int, str]:
    """Run `sdm ...` in a thread: the command starts its own event loop."""
    env = {"SDM_DATABASE_URL": database_url, "SDM_ENV": "test", "SDM_SECRET_KEY": TEST_SECRET}
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    return result.exit_code, result.output


async def test_cli_creates_lists_and_revokes_clients(
    client: AsyncTestClient[Litestar], app: Litestar, database_url: str
) -> None:
    code, output = await _cli(database_url, "api-clients", "create", "Epic", "--scopes", "responses:read")
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    assert len(token) >= 43
    assert (await client.get("/api/v1/responses", headers=bearer(token))).status_code == 200

    code, output = await _cli(database_url, "api-clients", "list")
    assert code == 0
    assert "Epic" in output
    assert token[:8] in output
    assert "active" in output
    assert token not in output

    code, output = await _cli(database_url, "api-clients", "revoke", "Epic")
    assert code == 0, output
    assert (await client.get("/api/v1/responses", headers=bearer(token))).status_code == 401
    assert "revoked" in (await _cli(database_url, "api-clients", "list"))[1]

    async with db(app) as session:
        actions = set((await session.execute(select(AuditEvent.action))).scalars())
    assert {"api_client.create", "api_client.revoke"} <= actions


async def test_cli_refuses_unknown_scopes_and_stores_nothing(app: Litestar, database_url: str) -> None:
    code, output = await _cli(
        database_url, "api-clients", "create", "Epic", "--scopes", "responses:read,root"
    )
    assert code != 0
    assert "Unknown scope(s): root" in output
    assert await count_rows(app, ApiClient) == 0
    code, output = await _cli(database_url, "api-clients", "revoke", "nobody")
    assert code != 0
    assert "No API client" in output
