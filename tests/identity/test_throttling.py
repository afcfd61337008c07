"""Throttling that does not lock people out (issue 18, ASVS 2.2.1): failures are counted per
account and per address; a locked account refuses only addresses that have failed, and a correct
password from an address without failures still signs in; administrators can unlock; every lock
and unlock is audited."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from litestar import Litestar

from sdm_service.cli import main
from sdm_service.models import Role
from sdm_service.settings import Settings
from tests.conftest import TEST_SECRET, make_settings
from tests.identity.support import address_client, sign_in_from
from tests.web.clinician_support import audit_events, create_account, post_form

WRONG = "not-the-password-at-all"


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No pause before a locked account's password is checked: the tests assert the outcome and
    # the audit record that says it was slowed, never a time.
    return make_settings(database_url, signin_slowdown_seconds=0)


async def test_five_wrong_passwords_from_five_addresses_do_not_lock_out_the_right_person(
    app: Litestar,
) -> None:
    """The exact scenario of issue 18."""
    await create_account(app, "dr.lee")
    async with address_client(app) as client:
        for number in range(1, 6):
            assert (await sign_in_from(client, f"203.0.113.{number}", "dr.lee", WRONG)).status_code == 401
        # An address that has failed is throttled for this account, even with the right password.
        refused = await sign_in_from(client, "203.0.113.1", "dr.lee")
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # The real dr.lee, from an address without failures, signs in (slowed, not refused).
        signed_in = await sign_in_from(client, "198.51.100.7", "dr.lee")
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/clinician"
        assert (await client.get("/clinician")).status_code == 200
    (sign_in_event,) = await audit_events(app, "auth.sign_in")
    assert sign_in_event.detail == {"while_locked": True}
    assert sign_in_event.ip == "198.51.100.7"
    (locked,) = await audit_events(app, "auth.account.locked")
    assert locked.detail["username"] == "dr.lee"
    assert len(await audit_events(app, "auth.sign_in.failed")) == 5


async def test_a_fresh_address_gets_one_slowed_guess_at_a_locked_account(app: Litestar) -> None:
    await create_account(app, "dr.lee")
    async with address_client(app) as client:
        for number in range(5):
            await sign_in_from(client, f"203.0.113.{number}", "dr.lee", WRONG)
        assert (await sign_in_from(client, "192.0.2.50", "dr.lee", WRONG)).status_code == 401
        # That address has now failed: the right password from it waits.
        assert (await sign_in_from(client, "192.0.2.50", "dr.lee")).status_code == 429
    failed = await audit_events(app, "auth.sign_in.failed")
    assert [event.detail.get("account_locked") for event in failed] == [False] * 5 + [True]


async def test_the_lock_holds_for_the_address_that_failed_and_other_accounts_are_untouched(
    app: Litestar,
) -> None:
    await create_account(app, "target")
    await create_account(app, "colleague")
    async with address_client(app) as browser:
        for _ in range(5):
            assert (await sign_in_from(browser, "10.1.1.1", "target", WRONG)).status_code == 401
        assert (await sign_in_from(browser, "10.1.1.1", "target")).status_code == 429
        assert (await sign_in_from(browser, "10.1.1.1", "colleague")).status_code == 303


async def _lock(app: Litestar, username: str, address: str = "10.9.9.9") -> None:
    async with address_client(app) as browser:
        for _ in range(5):
            await sign_in_from(browser, address, username, WRONG)
        assert (await sign_in_from(browser, address, username)).status_code == 429


async def test_an_administrator_unlocks_an_account_from_its_page(app: Litestar) -> None:
    target = await create_account(app, "dr.lee")
    await create_account(app, "boss", role=Role.ADMIN)
    await _lock(app, "dr.lee")
    async with address_client(app) as admin:
        assert (await sign_in_from(admin, "10.0.0.1", "boss")).status_code == 303
        page = await admin.get(f"/clinician/admin/users/{target}")
        assert page.status_code == 200
        assert "Locked after too many failed sign-ins" in page.text
        unlocked = await post_form(
            admin, f"/clinician/admin/users/{target}/unlock", headers={"x-test-client-address": "10.0.0.1"}
        )
        assert unlocked.status_code == 303
        assert "Not locked" in (await admin.get(unlocked.headers["location"])).text
    (event,) = await audit_events(app, "user.unlock")
    assert (event.actor_label, event.entity_id, event.detail["was_locked"]) == ("boss", str(target), True)
    async with address_client(app) as browser:
        assert (await sign_in_from(browser, "10.9.9.9", "dr.lee")).status_code == 303


async def test_a_clinician_cannot_unlock(app: Litestar) -> None:
    target = await create_account(app, "dr.lee")
    await create_account(app, "dr.other")
    async with address_client(app) as browser:
        assert (await sign_in_from(browser, "10.0.0.2", "dr.other")).status_code == 303
        response = await post_form(browser, f"/clinician/admin/users/{target}/unlock")
        assert response.status_code == 403
    assert await audit_events(app, "user.unlock") == []


def test_sdm_users_unlock(app: Litestar, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A plain test: the command runs its own event loop.
    asyncio.run(create_account(app, "dr.lee"))
    asyncio.run(_lock(app, "dr.lee"))
    monkeypatch.setenv("SDM_DATABASE_URL", database_url)
    monkeypatch.setenv("SDM_ENV", "test")
    monkeypatch.setenv("SDM_SECRET_KEY", TEST_SECRET)
    result = CliRunner().invoke(main, ["users", "unlock", "Dr.Lee"])
    assert result.exit_code == 0, result.output
    assert "Unlocked 'dr.lee'." in result.output
    (event,) = asyncio.run(audit_events(app, "user.unlock"))
    assert (event.actor_type, event.detail["was_locked"]) == ("system", True)

    async def right_password_from_the_failed_address() -> int:
        async with address_client(app) as browser:
            return (await sign_in_from(browser, "10.9.9.9", "dr.lee")).status_code

    assert asyncio.run(right_password_from_the_failed_address()) == 303
    again = CliRunner().invoke(main, ["users", "unlock", "dr.lee"])
    assert "was not locked" in again.output
    missing = CliRunner().invoke(main, ["users", "unlock", "nobody"])
    assert missing.exit_code == 1
    assert "There is no account named 'nobody'." in missing.output


async def test_an_incomplete_form_from_a_fresh_address_is_not_throttled_by_a_locked_account(
    app: Litestar,
) -> None:
    await create_account(app, "dr.lee")
    await _lock(app, "dr.lee")
    async with address_client(app) as browser:
        response = await sign_in_from(browser, "10.5.5.5", "dr.lee", "")
        assert response.status_code == 400
