"""ID token checks (services/oidc.py), on real tokens from the test provider: a token altered after
signing, signed by another key, for another audience, or with another nonce is refused; and the
role and MFA decisions read from the claims."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar

from sdm_service.models import Role
from sdm_service.services import oidc_accounts
from sdm_service.services.oidc import OidcError, OidcProvider, nonce_for
from sdm_service.settings import Settings, SettingsError
from tests.conftest import make_settings
from tests.identity.oidc_support import APP_URL, IdentityProvider, through_provider
from tests.live import free_port
from tests.web.clinician_support import Client


@pytest.fixture
def settings(sqlite_url: str, identity_provider: IdentityProvider) -> Settings:
    return make_settings(sqlite_url, **identity_provider.settings())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(token: str, index: int) -> dict[str, Any]:
    segment = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


async def _real_token(
    client: Client, settings: Settings, provider: OidcProvider, login: str
) -> tuple[str, str]:
    """(a real ID token for `login`, the state it was issued for), without the app's callback."""
    callback = await through_provider(client, login)
    query = parse_qs(urlsplit(callback).query)
    state, code = query["state"][0], query["code"][0]
    token = await provider.exchange(state, code)
    return token["id_token"], state


@pytest.fixture
async def provider(settings: Settings) -> Any:
    oidc = OidcProvider(settings)
    yield oidc
    await oidc.aclose()


async def test_a_real_token_passes_and_an_altered_one_is_refused(
    client: Client, app: Litestar, settings: Settings, provider: OidcProvider
) -> None:
    id_token, state = await _real_token(client, settings, provider, "dr.okafor")
    nonce = nonce_for(settings, state)
    claims = await provider.verify_id_token(id_token, nonce=nonce)
    assert claims["sub"] == "dr.okafor"
    assert claims["roles"] == ["sdm-clinician"]

    # The same signature over claims that give the admin role.
    header, payload, signature = id_token.split(".")
    altered = {**_part(id_token, 1), "roles": ["sdm-clinician", "sdm-admin"]}
    tampered = ".".join([header, _b64(json.dumps(altered).encode()), signature])
    with pytest.raises(OidcError, match="ID token"):
        await provider.verify_id_token(tampered, nonce=nonce)
    # One signature byte changed.
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 1
    with pytest.raises(OidcError):
        await provider.verify_id_token(".".join([header, payload, _b64(bytes(raw))]), nonce=nonce)
    # "alg": "none" with no signature.
    unsigned = ".".join([_b64(json.dumps({"alg": "none"}).encode()), payload, ""])
    with pytest.raises(OidcError):
        await provider.verify_id_token(unsigned, nonce=nonce)


async def test_a_token_for_another_sign_in_or_signed_elsewhere_is_refused(
    client: Client, app: Litestar, settings: Settings, provider: OidcProvider
) -> None:
    id_token, state = await _real_token(client, settings, provider, "dr.okafor")
    # Another sign-in's nonce (a token replayed into a different sign-in).
    with pytest.raises(OidcError, match="nonce"):
        await provider.verify_id_token(id_token, nonce=nonce_for(settings, "another-state"))
    # The same claims signed by a key that is not the provider's, under the provider's key id.
    forged_key = RSAKey.generate_key(2048)
    header = _part(id_token, 0)
    forged = jwt.encode({"alg": "RS256", "kid": header["kid"]}, _part(id_token, 1), forged_key)
    with pytest.raises(OidcError):
        await provider.verify_id_token(forged, nonce=nonce_for(settings, state))
    # Another client's token (aud), even signed right, is refused: here via a provider configured
    # for another client id, with the same issuer and keys.
    other = OidcProvider(
        make_settings(settings.database_url, **{**_settings_of(settings), "oidc_client_id": "x"})
    )
    try:
        with pytest.raises(OidcError, match="aud"):
            await other.verify_id_token(id_token, nonce=nonce_for(settings, state))
    finally:
        await other.aclose()


def _settings_of(settings: Settings) -> dict[str, object]:
    return {
        "oidc_issuer": settings.oidc_issuer,
        "oidc_client_id": settings.oidc_client_id,
        "oidc_client_secret": settings.oidc_client_secret.get_secret_value(),
        "oidc_clinician_values": ",".join(settings.oidc_clinician_values),
        "oidc_admin_values": ",".join(settings.oidc_admin_values),
    }


def test_role_mapping_reads_lists_strings_and_nested_claims(sqlite_url: str) -> None:
    base = {"oidc_issuer": "https://idp.example.org", "oidc_client_id": "c", "oidc_client_secret": "s"}
    defaults = make_settings(sqlite_url, **base)  # role values "clinician" and "admin" (DESIGN.md)
    assert oidc_accounts.role_from_claims({"roles": ["clinician"]}, defaults) == Role.CLINICIAN
    assert oidc_accounts.role_from_claims({"roles": ["admin"]}, defaults) == Role.ADMIN
    settings = make_settings(
        sqlite_url, **base, oidc_clinician_values="staff,doctors", oidc_admin_values="it-admin"
    )
    assert oidc_accounts.role_from_claims({"roles": ["doctors"]}, settings) == Role.CLINICIAN
    assert oidc_accounts.role_from_claims({"roles": ["doctors", "it-admin"]}, settings) == Role.ADMIN
    assert oidc_accounts.role_from_claims({"roles": "staff"}, settings) == Role.CLINICIAN
    assert oidc_accounts.role_from_claims({"roles": ["Staff"]}, settings) is None  # values are exact
    assert oidc_accounts.role_from_claims({}, settings) is None
    nested = make_settings(
        sqlite_url, **base, oidc_role_claim="realm_access.roles", oidc_clinician_values="staff"
    )
    assert oidc_accounts.role_from_claims({"realm_access": {"roles": ["staff"]}}, nested) == Role.CLINICIAN
    assert oidc_accounts.role_from_claims({"realm_access": "staff"}, nested) is None


def test_provider_mfa_is_read_from_amr() -> None:
    assert oidc_accounts.provider_did_mfa(["pwd", "mfa"])
    assert oidc_accounts.provider_did_mfa(["hwk"])
    assert not oidc_accounts.provider_did_mfa(["pwd"])
    assert not oidc_accounts.provider_did_mfa("mfa")  # amr is a list; anything else says nothing
    assert not oidc_accounts.provider_did_mfa(None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"oidc_issuer": "https://idp.example.org"}, "SDM_OIDC_CLIENT_ID and SDM_OIDC_CLIENT_SECRET"),
        (
            {
                "oidc_issuer": "https://idp.example.org",
                "oidc_client_id": "c",
                "oidc_client_secret": "s",
                "oidc_clinician_values": "",
                "oidc_admin_values": " , ",
            },
            "SDM_OIDC_CLINICIAN_VALUES or SDM_OIDC_ADMIN_VALUES",
        ),
        ({"local_login": False}, "SDM_LOCAL_LOGIN=false needs OpenID Connect"),
        ({"oidc_issuer": "idp.example.org"}, "issuer URL"),
    ],
)
def test_incomplete_oidc_settings_are_refused_at_start(
    sqlite_url: str, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        make_settings(sqlite_url, **overrides)


async def test_without_a_provider_the_routes_do_not_exist(sqlite_url: str) -> None:
    from litestar.testing import AsyncTestClient

    from sdm_service.app import create_app

    async with AsyncTestClient(app=create_app(make_settings(sqlite_url)), base_url=APP_URL) as plain:
        page = await plain.get("/clinician/sign-in")
        assert "Sign in with your organisation" not in page.text
        assert (await plain.get("/clinician/sign-in/oidc", follow_redirects=False)).status_code == 404
        assert (await plain.get("/clinician/oidc/callback?state=x&code=y")).status_code == 404


async def test_an_unreachable_provider_gets_a_clear_page(sqlite_url: str) -> None:
    from litestar.testing import AsyncTestClient

    from sdm_service.app import create_app

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = make_settings(
        sqlite_url,
        oidc_issuer=closed,
        oidc_client_id="c",
        oidc_client_secret="s",
        oidc_clinician_values="staff",
    )
    async with AsyncTestClient(app=create_app(settings), base_url=APP_URL) as client:
        answer = await client.get("/clinician/sign-in/oidc", follow_redirects=False)
        assert answer.status_code == 503
        assert "could not be reached" in answer.text
