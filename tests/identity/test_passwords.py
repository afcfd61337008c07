"""Password lifecycle (issue 18, ASVS 2.1): the shipped common-password list, the own-name check,
changing one's password with the current one, and an administrator's reset (page and CLI) that
forces a change at the next sign-in."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from litestar import Litestar

from sdm_service.cli import main
from sdm_service.models import Role, User
from sdm_service.services import passwords, users
from tests.conftest import TEST_SECRET
from tests.identity.support import another_browser
from tests.web.clinician_support import (
    PASSWORD,
    Client,
    audit_events,
    create_account,
    db,
    post_form,
    sign_in,
    signed_in,
)

NEW_PASSWORD = "lantern orchard velvet comet"


def test_the_shipped_list_holds_over_100000_common_passwords() -> None:
    assert passwords.common_password_count() >= 100_000
    for common in ("password1234", "Password1234", "qwertyuiop123", "whatsapassword"):
        assert passwords.is_common(common), common
    assert not passwords.is_common(NEW_PASSWORD)


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("password1234", "list of common or breached passwords"),
        ("aaaaaaaaaaaa", "too few characters"),
        ("short", "at least 12 characters"),
        ("dr.lee-rules-the-ward", "must not contain your username or your name"),
        ("Harrington-on-call-7", "must not contain your username or your name"),
    ],
)
def test_weak_passwords_are_refused_with_a_clear_message(password: str, expected: str) -> None:
    assert expected in (passwords.problem(password, username="dr.lee", display_name="Ana Harrington") or "")


def test_a_strong_password_passes() -> None:
    assert passwords.problem(NEW_PASSWORD, username="dr.lee", display_name="Ana Harrington") is None


async def test_creating_an_account_with_a_common_password_is_refused(app: Litestar) -> None:
    with pytest.raises(users.UserError, match="common or breached"):
        await create_account(app, "dr.weak", password="password1234")


async def _user(app: Litestar, username: str) -> User:
    async with db(app) as session:
        user = await users.find_by_username(session, username)
        assert user is not None
        return user


async def test_changing_ones_password_needs_the_current_one(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    page = await client.get("/clinician/account/password")
    assert page.status_code == 200
    assert 'name="current_password"' in page.text
    wrong = await post_form(
        client,
        "/clinician/account/password",
        {
            "current_password": "not-my-password",
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 400
    assert "Your current password is not correct." in wrong.text
    weak = await post_form(
        client,
        "/clinician/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "password1234",
            "new_password_confirm": "password1234",
        },
    )
    assert weak.status_code == 400
    assert "common or breached passwords" in weak.text
    changed = await post_form(
        client,
        "/clinician/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
    )
    assert changed.status_code == 303
    assert "Your password is changed." in (await client.get(changed.headers["location"])).text
    assert (await client.get("/clinician")).status_code == 200  # this browser stays signed in
    (event,) = await audit_events(app, "user.password.change")
    assert event.actor_label == "dr.lee"
    await post_form(client, "/clinician/sign-out")
    assert (await sign_in(client, "dr.lee")).status_code == 401
    assert (await sign_in(client, "dr.lee", NEW_PASSWORD)).status_code == 303


async def test_changing_the_password_signs_out_other_sessions(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    async with another_browser(client) as other:
        assert (await sign_in(other, "dr.lee")).status_code == 303
        await post_form(
            client,
            "/clinician/account/password",
            {
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_confirm": NEW_PASSWORD,
            },
        )
        assert (await other.get("/clinician", follow_redirects=False)).status_code == 303


async def test_the_change_form_needs_the_csrf_token(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    response = await client.post(
        "/clinician/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 403
    assert (await _user(app, "dr.lee")).password_changed_at is None


async def test_an_admin_reset_forces_a_change_at_next_sign_in(client: Client, app: Litestar) -> None:
    target = await create_account(app, "dr.lee")
    async with another_browser(client) as victim:
        assert (await sign_in(victim, "dr.lee")).status_code == 303
        await signed_in(client, app, "boss", role=Role.ADMIN)
        weak = await post_form(
            client,
            f"/clinician/admin/users/{target}/password",
            {"new_password": "aaaaaaaaaaaa", "new_password_confirm": "aaaaaaaaaaaa"},
        )
        assert weak.status_code == 400
        assert "too few characters" in weak.text
        reset = await post_form(
            client,
            f"/clinician/admin/users/{target}/password",
            {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        )
        assert reset.status_code == 303
        # The reset ends the account's sessions.
        assert (await victim.get("/clinician", follow_redirects=False)).status_code == 303
        (event,) = await audit_events(app, "user.password.reset")
        assert (event.actor_label, event.entity_id, event.detail["sessions_ended"]) == (
            "boss",
            str(target),
            1,
        )
        signed = await sign_in(victim, "dr.lee", NEW_PASSWORD)
        assert signed.headers["location"] == "/clinician/account/password"
        # Nothing else opens until the person has chosen their own password.
        blocked = await victim.get("/clinician", follow_redirects=False)
        assert (blocked.status_code, blocked.headers["location"]) == (303, "/clinician/account/password")
        assert (await post_form(victim, "/clinician/invitations", {})).status_code == 403
        form = await victim.get("/clinician/account/password")
        assert "An administrator set your password" in form.text
        changed = await post_form(
            victim,
            "/clinician/account/password",
            {
                "current_password": NEW_PASSWORD,
                "new_password": "quiet harbour amber violin",
                "new_password_confirm": "quiet harbour amber violin",
            },
        )
        assert changed.status_code == 303
        assert (await victim.get("/clinician")).status_code == 200
    assert (await _user(app, "dr.lee")).must_change_password is False


def test_sdm_users_set_password(app: Litestar, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(create_account(app, "dr.lee"))
    monkeypatch.setenv("SDM_DATABASE_URL", database_url)
    monkeypatch.setenv("SDM_ENV", "test")
    monkeypatch.setenv("SDM_SECRET_KEY", TEST_SECRET)
    runner = CliRunner()
    weak = runner.invoke(
        main, ["users", "set-password", "dr.lee", "--password-stdin"], input="password1234\n"
    )
    assert weak.exit_code == 1
    assert "common or breached passwords" in weak.output
    result = runner.invoke(
        main, ["users", "set-password", "Dr.Lee", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert "must be changed at the next sign-in" in result.output
    user = asyncio.run(_user(app, "dr.lee"))
    assert user.must_change_password is True
    assert users.PasswordHashing().verify(NEW_PASSWORD, user.password_hash)
    (event,) = asyncio.run(audit_events(app, "user.password.reset"))
    assert event.actor_type == "system"
    missing = runner.invoke(
        main, ["users", "set-password", "nobody", "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert missing.exit_code == 1
    assert "There is no account named 'nobody'." in missing.output
