"""OpenID Connect sign-in (issue 18) against a real provider (npm oidc-provider): accounts created
from the mapped role claim, admin mapping, provider MFA, refusals, replayed state, sign-out at the
provider. The browser test is test_oidc_browser.py; ID token tampering is test_oidc_tokens.py."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlmodel import col

from sdm_service.models import Role, User
from sdm_service.services import users
from sdm_service.settings import Settings
from tests.conftest import make_settings
from tests.identity.oidc_support import (
    APP_URL,
    CLIENT_ID,
    IdentityProvider,
    sign_in_with_provider,
    through_provider,
)
from tests.web.clinician_support import Client, audit_events, create_account, db, post_form, sign_in


@pytest.fixture
def settings(database_url: str, identity_provider: IdentityProvider) -> Settings:
    return make_settings(database_url, mfa_required_for_admins=True, **identity_provider.settings())


async def _account(app: Litestar, username: str) -> User | None:
    async with db(app) as session:
        found: User | None = (
            await session.execute(select(User).where(col(User.username) == username))
        ).scalar_one_or_none()
        return found


async def test_first_sign_in_creates_a_clinician_and_lands_on_the_worklist(
    client: Client, app: Litestar, identity_provider: IdentityProvider
) -> None:
    page = await client.get("/clinician/sign-in")
    assert "Sign in with your organisation" in page.text
    answer = await sign_in_with_provider(client, "dr.okafor")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/clinician"
    worklist = await client.get("/clinician", follow_redirects=False)
    assert worklist.status_code == 200
    assert "<h1>Worklist</h1>" in worklist.text
    assert "Signed in as Dr Ada Okafor" in worklist.text
    assert "(administrator)" not in worklist.text
    user = await _account(app, "dr.okafor")
    assert user is not None
    assert (user.role, user.oidc_issuer, user.oidc_subject) == (
        Role.CLINICIAN,
        identity_provider.issuer,
        "dr.okafor",
    )
    # The account has no password: the password form cannot open it.
    assert (await sign_in(client, "dr.okafor", "!oidc")).status_code == 401
    created = await audit_events(app, "user.create")
    assert [event.detail for event in created] == [
        {"username": "dr.okafor", "role": "clinician", "via": "oidc"}
    ]
    signed = await audit_events(app, "auth.sign_in")
    assert signed[-1].detail == {"method": "oidc", "provider_mfa": False}

    # The next sign-in finds the same account (by issuer and subject), not a second one.
    await client.post("/clinician/sign-out", data={"_csrf_token": client.cookies.get("sdm_csrf")})
    client.cookies.delete("sdm_session")
    again = await sign_in_with_provider(client, "dr.okafor", next_path="/clinician/invitations/new")
    assert again.status_code == 303
    assert again.headers["location"] == "/clinician/invitations/new"
    async with db(app) as session:
        assert len((await session.execute(select(User))).scalars().all()) == 1


async def test_admin_values_map_to_admin_and_provider_mfa_replaces_totp(
    client: Client, app: Litestar
) -> None:
    answer = await sign_in_with_provider(client, "dr.admin")
    assert answer.status_code == 303, answer.text
    # The provider's amr says "mfa": no TOTP enrolment is asked, although admins need a second factor.
    accounts = await client.get("/clinician/admin/users", follow_redirects=False)
    assert accounts.status_code == 200, accounts.text
    assert "(administrator)" in accounts.text
    user = await _account(app, "dr.admin")
    assert user is not None
    assert user.role == Role.ADMIN
    signed = await audit_events(app, "auth.sign_in")
    assert signed[-1].detail == {"method": "oidc", "provider_mfa": True}


async def test_admin_without_provider_mfa_must_enrol_totp(client: Client) -> None:
    answer = await sign_in_with_provider(client, "dr.nomfa")
    assert answer.status_code == 303, answer.text
    worklist = await client.get("/clinician", follow_redirects=False)
    assert worklist.status_code == 303
    assert worklist.headers["location"] == "/clinician/account/mfa"


async def test_a_person_without_the_role_is_refused_and_no_account_is_made(
    client: Client, app: Litestar
) -> None:
    answer = await sign_in_with_provider(client, "visitor")
    assert answer.status_code == 403
    assert "does not give you access" in answer.text
    assert "sdm_session" not in answer.cookies
    assert await _account(app, "visitor") is None
    refused = await audit_events(app, "auth.oidc.refused")
    assert refused[-1].detail is not None
    assert refused[-1].detail["reason"] == "no_role"
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303


async def test_losing_the_role_deactivates_and_regaining_it_restores(
    client: Client, app: Litestar, identity_provider: IdentityProvider
) -> None:
    identity_provider.set_roles("dr.leaver", "sdm-clinician")
    try:
        assert (await sign_in_with_provider(client, "dr.leaver")).status_code == 303
        identity_provider.set_roles("dr.leaver")
        refused = await sign_in_with_provider(client, "dr.leaver")
        assert refused.status_code == 403
        user = await _account(app, "dr.leaver")
        assert user is not None
        assert not user.is_active
        assert user.deactivated_by_provider
        # Deactivation also ended the session the earlier sign-in started.
        assert (await client.get("/clinician", follow_redirects=False)).status_code == 303
        deactivated = await audit_events(app, "user.deactivate")
        assert deactivated
        assert deactivated[-1].detail is not None
        assert deactivated[-1].detail["username"] == "dr.leaver"
        # The role comes back (e.g. a leaver who returned): the provider's deactivation is undone.
        identity_provider.set_roles("dr.leaver", "sdm-admin")
        back = await sign_in_with_provider(client, "dr.leaver")
        assert back.status_code == 303
        user = await _account(app, "dr.leaver")
        assert user is not None
        assert user.is_active
        assert user.role == Role.ADMIN
        reactivated = await audit_events(app, "user.reactivate")
        assert [event.detail for event in reactivated] == [{"username": "dr.leaver"}]
        changed = [event.detail for event in await audit_events(app, "user.role.change")]
        assert changed == [{"username": "dr.leaver", "from": "clinician", "to": "admin"}]
    finally:
        identity_provider.set_roles("dr.leaver", "sdm-clinician")


async def test_an_account_deactivated_here_is_not_reactivated_by_the_provider(
    client: Client, app: Litestar
) -> None:
    assert (await sign_in_with_provider(client, "dr.okafor")).status_code == 303
    async with db(app) as session:
        user = (await session.execute(select(User).where(col(User.username) == "dr.okafor"))).scalar_one()
        await users.deactivate_user(session, user)
        await session.commit()
    answer = await sign_in_with_provider(client, "dr.okafor")
    assert answer.status_code == 403
    assert "deactivated here" in answer.text
    still = await _account(app, "dr.okafor")
    assert still is not None
    assert not still.is_active


async def test_a_local_account_with_the_same_name_is_not_taken_over(client: Client, app: Litestar) -> None:
    await create_account(app, "dr.okafor")
    answer = await sign_in_with_provider(client, "dr.okafor")
    assert answer.status_code == 403
    local = await _account(app, "dr.okafor")
    assert local is not None
    assert local.oidc_subject is None


async def test_a_replayed_state_is_refused(client: Client, app: Litestar) -> None:
    callback = await through_provider(client, "dr.okafor")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    assert (await client.get(callback, follow_redirects=False)).status_code == 303
    await client.post("/clinician/sign-out", data={"_csrf_token": client.cookies.get("sdm_csrf")})
    client.cookies.delete("sdm_session")
    # The same callback again, with the state cookie put back: the state was used, so it is refused.
    client.cookies.set("sdm_oidc", state, domain="testserver.local", path="/clinician")
    replay = await client.get(callback, follow_redirects=False)
    assert replay.status_code == 400
    assert "sdm_session" not in replay.cookies
    refused = await audit_events(app, "auth.oidc.refused")
    assert refused[-1].detail == {"reason": "state_unknown_or_used"}


async def test_a_state_from_another_browser_is_refused(client: Client, app: Litestar) -> None:
    """Login CSRF: a callback carrying someone else's state (not this browser's cookie)."""
    callback = await through_provider(client, "dr.okafor")
    client.cookies.delete("sdm_oidc")
    answer = await client.get(callback, follow_redirects=False)
    assert answer.status_code == 400
    refused = await audit_events(app, "auth.oidc.refused")
    assert refused[-1].detail == {"reason": "state_mismatch"}


async def test_sign_out_ends_the_session_and_goes_to_the_providers_end_session(
    client: Client, identity_provider: IdentityProvider
) -> None:
    assert (await sign_in_with_provider(client, "dr.okafor")).status_code == 303
    answer = await post_form(client, "/clinician/sign-out")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(f"{identity_provider.issuer}/session/end?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["post_logout_redirect_uri"] == [f"{APP_URL}/clinician/sign-in?signed_out=1"]
    # The provider accepts it (its sign-out confirmation page), and the local session is gone.
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(location)).status_code == 200
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303


async def test_a_password_account_signs_out_locally(client: Client, app: Litestar) -> None:
    await create_account(app, "dr.local")
    assert (await sign_in(client, "dr.local")).status_code == 303
    answer = await post_form(client, "/clinician/sign-out")
    assert answer.headers["location"] == "/clinician/sign-in?signed_out=1"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_local_login_off_hides_and_refuses_the_password_form(
    database_url: str, identity_provider: IdentityProvider
) -> None:
    from litestar.testing import AsyncTestClient

    from sdm_service.app import create_app

    settings = make_settings(database_url, local_login=False, **identity_provider.settings())
    app = create_app(settings)
    async with AsyncTestClient(app=app, base_url=APP_URL) as local_off:
        await create_account(app, "dr.local")
        page = await local_off.get("/clinician/sign-in")
        assert "Sign in with your organisation" in page.text
        assert 'name="password"' not in page.text
        answer = await sign_in(local_off, "dr.local")
        assert answer.status_code == 403
        assert "sdm_session" not in answer.cookies
