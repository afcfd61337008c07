"""TOTP second factor (issue 18, ASVS 2.8, 4.3.1): required for administrators, optional for
clinicians unless SDM_MFA_REQUIRED_FOR_ALL; enrolment by QR code or typed key; recovery codes
stored as hashes and single-use; a code is never accepted twice."""

from __future__ import annotations

import re

import pyotp
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlmodel import col

from sdm_service.models import RecoveryCode, Role, User
from sdm_service.services import mfa
from sdm_service.settings import Settings, SettingsError
from tests.conftest import TEST_SECRET, make_settings
from tests.web.clinician_support import (
    Client,
    audit_events,
    create_account,
    db,
    post_form,
    sign_in,
    signed_in,
)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, mfa_required_for_admins=True)


async def _user(app: Litestar, username: str) -> User:
    async with db(app) as session:
        user = (await session.execute(select(User).where(col(User.username) == username))).scalar_one()
        return user


async def _enrol(client: Client, app: Litestar, username: str) -> tuple[str, list[str]]:
    page = await client.get("/clinician/account/mfa")
    assert page.status_code == 200
    assert "<svg" in page.text
    assert 'aria-label="QR code' in page.text
    key = re.search(r'<code id="totp-key">([A-Z2-7 ]+)</code>', page.text)
    assert key, page.text
    secret = key.group(1).replace(" ", "")
    wrong = await post_form(
        client,
        "/clinician/account/mfa",
        {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"},
    )
    assert wrong.status_code == 400
    assert "That code does not match" in wrong.text
    done = await post_form(client, "/clinician/account/mfa", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([0-9a-f-]+)</code></li>", done.text)
    assert len(codes) == mfa.RECOVERY_CODE_COUNT
    return secret, codes


async def test_an_admin_must_enrol_before_opening_the_workspace(client: Client, app: Litestar) -> None:
    target = await create_account(app, "dr.lee")
    await signed_in(client, app, "boss", role=Role.ADMIN)
    for path in ("/clinician", "/clinician/admin/users", f"/clinician/admin/users/{target}"):
        response = await client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/clinician/account/mfa"), path
    assert (await post_form(client, f"/clinician/admin/users/{target}/unlock")).status_code == 403
    page = await client.get("/clinician/account/mfa")
    assert "Your account must use two-step sign-in" in page.text
    secret, codes = await _enrol(client, app, "boss")
    assert (await client.get("/clinician/admin/users")).status_code == 200
    (event,) = await audit_events(app, "user.mfa.enable")
    assert event.actor_label == "boss"
    # Stored: the secret sealed, the recovery codes as hashes only.
    user = await _user(app, "boss")
    assert user.totp_secret
    assert secret not in user.totp_secret
    async with db(app) as session:
        stored = (await session.execute(select(RecoveryCode))).scalars().all()
    assert len(stored) == mfa.RECOVERY_CODE_COUNT
    assert not any(code.replace("-", "") in row.code_hash for row in stored for code in codes)


async def test_sign_in_asks_for_the_code_and_a_code_is_never_accepted_twice(
    client: Client, app: Litestar
) -> None:
    await signed_in(client, app, "boss", role=Role.ADMIN)
    secret, _ = await _enrol(client, app, "boss")
    enrolled_step = (await _user(app, "boss")).totp_last_step
    assert enrolled_step is not None
    totp = pyotp.TOTP(secret)
    await post_form(client, "/clinician/sign-out")

    password_ok = await sign_in(client, "boss")
    assert (password_ok.status_code, password_ok.headers["location"]) == (303, "/clinician/sign-in/mfa")
    # The password alone opens nothing.
    assert (await client.get("/clinician", follow_redirects=False)).headers[
        "location"
    ] == "/clinician/sign-in"
    assert 'autocomplete="one-time-code"' in (await client.get("/clinician/sign-in/mfa")).text
    # The code used to enrol cannot be replayed.
    replay = await post_form(client, "/clinician/sign-in/mfa", {"code": totp.at(enrolled_step * 30)})
    assert replay.status_code == 401
    assert "used already" in replay.text
    next_code = totp.at((enrolled_step + 1) * 30)
    ok = await post_form(client, "/clinician/sign-in/mfa", {"code": next_code})
    assert (ok.status_code, ok.headers["location"]) == (303, "/clinician")
    assert (await client.get("/clinician/admin/users")).status_code == 200
    signed = await audit_events(app, "auth.sign_in")
    assert signed[-1].detail == {"second_factor": "totp"}
    await post_form(client, "/clinician/sign-out")
    await sign_in(client, "boss")
    assert (await post_form(client, "/clinician/sign-in/mfa", {"code": next_code})).status_code == 401
    assert len(await audit_events(app, "auth.mfa.failed")) == 2


async def test_a_recovery_code_works_once(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "boss", role=Role.ADMIN)
    _, codes = await _enrol(client, app, "boss")
    await post_form(client, "/clinician/sign-out")
    await sign_in(client, "boss")
    used = await post_form(client, "/clinician/sign-in/mfa", {"recovery_code": codes[0].upper()})
    assert used.status_code == 303
    await post_form(client, "/clinician/sign-out")
    await sign_in(client, "boss")
    again = await post_form(client, "/clinician/sign-in/mfa", {"recovery_code": codes[0]})
    assert again.status_code == 401
    assert "recovery code is not right, or was used already" in again.text


async def test_wrong_codes_are_limited(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "boss", role=Role.ADMIN)
    await _enrol(client, app, "boss")
    await post_form(client, "/clinician/sign-out")
    await sign_in(client, "boss")
    for _ in range(5):
        assert (
            await post_form(client, "/clinician/sign-in/mfa", {"recovery_code": "nope-nope"})
        ).status_code == 401
    limited = await post_form(client, "/clinician/sign-in/mfa", {"recovery_code": "nope-nope"})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1


async def test_the_second_step_needs_the_password_step_first(client: Client, app: Litestar) -> None:
    await create_account(app, "boss", role=Role.ADMIN)
    assert (await client.get("/clinician/sign-in/mfa", follow_redirects=False)).status_code == 303
    response = await post_form(client, "/clinician/sign-in/mfa", {"code": "123456"})
    assert response.status_code == 401
    assert "Sign in again with your password" in response.text


def test_the_pending_sign_in_cookie_is_signed_and_short_lived(settings: Settings) -> None:
    user = User(username="boss", password_hash="x", role=Role.ADMIN)
    token = mfa.pending_token(settings, user, now=1_000_000)
    assert mfa.read_pending(settings, token, now=1_000_010) == str(user.id)
    assert mfa.read_pending(settings, token, now=1_000_000 + mfa.PENDING_SECONDS + 1) is None
    other_user = User(username="other", password_hash="x")
    forged = token.replace(str(user.id), str(other_user.id))
    assert mfa.read_pending(settings, forged, now=1_000_010) is None


async def test_clinicians_may_enrol_and_are_not_forced(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    assert (await client.get("/clinician")).status_code == 200
    assert "Your account must use" not in (await client.get("/clinician/account/mfa")).text


async def test_mfa_required_for_all_covers_clinicians(database_url: str) -> None:
    from litestar.testing import AsyncTestClient

    from sdm_service.app import create_app

    app = create_app(make_settings(database_url, mfa_required_for_all=True))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as browser:
        await signed_in(browser, app, "dr.lee")
        response = await browser.get("/clinician", follow_redirects=False)
        assert response.headers["location"] == "/clinician/account/mfa"


def test_production_refuses_to_turn_off_mfa_for_admins() -> None:
    with pytest.raises(SettingsError, match="SDM_MFA_REQUIRED_FOR_ADMINS"):
        make_settings(
            "sqlite:///x.db",
            env="production",
            secret_key=TEST_SECRET.replace("0123456789", "q8Zr!x2Lw"),
            base_url="https://sdm.example.org",
            mfa_required_for_admins=False,
        )
