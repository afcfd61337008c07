"""A full browser sign-in through the organisation's identity provider (issue 18): Debian chromium
driven by Playwright, a real `sdm run` and the real test provider (oidc-provider). The clinician
types a username at the provider and lands on the worklist with the right role; sign-out ends the
provider's session too and comes back to the sign-in page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.browser.conftest import launched_chromium, need_browser
from tests.identity.oidc_support import CLIENT_ID, CLIENT_SECRET, IdentityProvider
from tests.live import running_sdm

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def oidc_server(
    tmp_path_factory: pytest.TempPathFactory, identity_provider: IdentityProvider
) -> Iterator[str]:
    """`sdm run` with OpenID Connect sign-in, on the port whose redirect URI the provider knows."""
    need_browser()
    workdir = tmp_path_factory.mktemp("oidc-live")
    url = f"http://127.0.0.1:{identity_provider.live_port}"
    env = {
        **os.environ,
        "SDM_DATABASE_URL": f"sqlite:///{workdir / 'oidc.db'}",
        "SDM_BASE_URL": url,
        "SDM_ENV": "development",
        "SDM_LOG_LEVEL": "WARNING",
        "SDM_OIDC_ISSUER": identity_provider.issuer,
        "SDM_OIDC_CLIENT_ID": CLIENT_ID,
        "SDM_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "SDM_OIDC_ROLE_CLAIM": "roles",
        "SDM_OIDC_CLINICIAN_VALUES": "sdm-clinician",
        "SDM_OIDC_ADMIN_VALUES": "sdm-admin",
    }
    with running_sdm(env, identity_provider.live_port, workdir):
        yield url


@asynccontextmanager
async def _browser_page() -> AsyncIterator[Any]:
    async with launched_chromium() as browser:
        context = await browser.new_context()
        context.set_default_timeout(15_000)
        yield await context.new_page()


async def _sign_in(page: Any, server: str, login: str) -> None:
    await page.goto(f"{server}/clinician")
    await page.get_by_role("link", name="Sign in with your organisation").click()
    # At the provider: its own page, its own form.
    await page.get_by_label("Username").fill(login)
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"{server}/clinician")


async def test_a_clinician_signs_in_with_the_provider_and_signs_out_there(
    oidc_server: str, identity_provider: IdentityProvider
) -> None:
    async with _browser_page() as page:
        await _sign_in(page, oidc_server, "dr.okafor")
        assert await page.locator("h1").inner_text() == "Worklist"
        signed_in_as = await page.locator(".signed-in-as").inner_text()
        assert signed_in_as == "Signed in as Dr Ada Okafor"  # a clinician, not an administrator
        assert await page.get_by_role("link", name="Accounts").count() == 0

        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(f"{identity_provider.issuer}/session/end*")
        await page.get_by_role("button", name="Yes, sign me out").click()
        await page.wait_for_url(f"{oidc_server}/clinician/sign-in?signed_out=1")
        assert "You are signed out." in await page.content()
        await page.goto(f"{oidc_server}/clinician")
        assert page.url.startswith(f"{oidc_server}/clinician/sign-in")


async def test_an_administrator_lands_with_the_admin_role(oidc_server: str) -> None:
    async with _browser_page() as page:
        await _sign_in(page, oidc_server, "dr.admin")
        # The provider did MFA (amr), so no TOTP enrolment stands between the admin and the page.
        assert await page.locator("h1").inner_text() == "Worklist"
        assert "(administrator)" in await page.locator(".signed-in-as").inner_text()
        await page.get_by_role("link", name="Accounts").click()
        assert "dr.admin" in await page.content()
