"""Registering SMART clients: `sdm api-clients create NAME --jwks-file|--jwks-url --scopes`, the
scopes vocabulary, and the administrators' page."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from joserfc.jwk import ECKey, RSAKey
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from sdm_service import scopes
from sdm_service.api.auth import scopes as route_scopes
from sdm_service.cli import main
from sdm_service.models import ApiClient, Role
from sdm_service.services import api_clients
from tests.conftest import TEST_SECRET
from tests.database import db
from tests.smart.support import assertion, public_jwks, token_form
from tests.web.clinician_support import audit_events, post_form, signed_in

Client = AsyncTestClient[Litestar]
SCOPES = (
    "system/QuestionnaireResponse.rs,system/DocumentReference.rs,system/Binary.r,"
    "system/Questionnaire.rs,system/Task.cru"
)


async def _cli(database_url: str, *args: str) -> tuple[int, str]:
    env = {
        "SDM_DATABASE_URL": database_url,
        "SDM_ENV": "test",
        "SDM_SECRET_KEY": TEST_SECRET,
        "SDM_BASE_URL": "http://testserver.local",
    }
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    return result.exit_code, result.output


async def test_the_cli_registers_a_jwks_file_and_prints_the_client_id_last(
    client: Client, app: Litestar, database_url: str, tmp_path: Path, rsa_key: RSAKey, ec_key: ECKey
) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(public_jwks(rsa_key, ec_key)))
    code, output = await _cli(
        database_url, "api-clients", "create", "Epic", "--jwks-file", str(jwks_file), "--scopes", SCOPES
    )
    assert code == 0, output
    client_id = output.strip().splitlines()[-1]
    answer = await client.post(
        "/auth/token", data=token_form(assertion(client_id, ec_key), "system/Task.cru")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"] == "system/Task.cru"
    async with db(app) as session:
        stored = (await session.execute(select(ApiClient))).scalar_one()
    assert stored.token_hash is None
    assert sorted(stored.scopes.split()) == sorted(SCOPES.split(","))

    code, output = await _cli(database_url, "api-clients", "list")
    assert code == 0
    assert client_id in output
    assert "SMART key set" in output


async def test_the_cli_refuses_private_keys_bad_urls_and_bad_scopes(
    app: Litestar, database_url: str, tmp_path: Path, rsa_key: RSAKey
) -> None:
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [rsa_key.as_dict(private=True)]}))
    refusals = [
        (("--jwks-file", str(private), "--scopes", SCOPES), "private key material"),
        (("--jwks-url", "ftp://ehr.example/jwks", "--scopes", SCOPES), "http(s) URL"),
        (("--jwks-url", "https://ehr.example/jwks", "--scopes", "system/Task.xyz"), "Unknown scope"),
        (("--jwks-url", "https://ehr.example/jwks", "--scopes", "patient/Task.r"), "Only system/ scopes"),
    ]
    for options, message in refusals:
        code, output = await _cli(database_url, "api-clients", "create", "EHR", *options)
        assert code != 0, options
        assert message in output, output
    async with db(app) as session:
        assert (await session.execute(select(ApiClient))).first() is None
    code, output = await _cli(
        database_url,
        "api-clients",
        "create",
        "EHR",
        "--jwks-url",
        "https://ehr.example/jwks",
        "--scopes",
        SCOPES,
    )
    assert code == 0, output


def test_scopes_parse_v2_v1_grouped_and_older_names() -> None:
    p = scopes.Permission
    assert scopes.parse_grant("system/Task.cru") == {p("Task", "c"), p("Task", "r"), p("Task", "u")}
    assert scopes.parse_grant("system/Binary.read") == {p("Binary", "r"), p("Binary", "s")}
    assert scopes.parse_grant("system/Task.write") == {p("Task", "c"), p("Task", "u"), p("Task", "d")}
    assert p("DocumentReference", "s") in scopes.parse_grant("system/*.rs")
    assert scopes.parse_grant("responses:read") == scopes.parse_grant(
        "system/QuestionnaireResponse.rs system/DocumentReference.rs system/Binary.r"
    )
    assert scopes.format_grant(scopes.parse_grant("system/Task.u system/Task.c, system/Binary.r")) == (
        "system/Binary.r system/Task.cu"
    )
    for bad in ("system/Task.rc", "system/Task.x", "system/Patient.r", "user/Task.r", "Task.r", ""):
        with pytest.raises(scopes.ScopeError):
            scopes.parse_grant(bad)


def test_routes_declare_one_permission_each() -> None:
    declared = route_scopes("system/Task.c", "system/Task.r", "system/Task.s", "system/Task.u")
    assert declared["scopes"] == tuple(scopes.Permission("Task", i) for i in "crsu")
    for grouped in ("system/Task.cru", "responses:read", "system/Task.read"):
        with pytest.raises(scopes.ScopeError):
            route_scopes(grouped)


async def test_the_admin_page_lists_smart_clients_and_revokes_them(
    client: Client, app: Litestar, rsa_key: RSAKey
) -> None:
    async with db(app) as session:
        ehr = (
            await api_clients.create_api_client(
                session, "Cerner SMART", "system/QuestionnaireResponse.rs", jwks=public_jwks(rsa_key)
            )
        ).client
        await session.commit()
    await signed_in(client, app, "boss", role=Role.ADMIN)
    page = await client.get("/clinician/admin/api-clients")
    assert page.status_code == 200
    assert "Cerner SMART" in page.text
    assert str(ehr.id) in page.text
    assert "system/QuestionnaireResponse.rs" in page.text
    action = re.search(r'action="(/clinician/admin/api-clients/[^"]+/revoke)"', page.text)
    assert action is not None
    assert str(ehr.id) in action.group(1)
    assert (await post_form(client, action.group(1))).status_code == 303
    assert len(await audit_events(app, "api_client.revoke")) == 1
    refused = await client.post("/auth/token", data=token_form(assertion(str(ehr.id), rsa_key)))
    assert refused.status_code == 401
