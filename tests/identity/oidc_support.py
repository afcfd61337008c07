"""A real OpenID provider for the identity tests: npm `oidc-provider` run by oidc_provider.mjs.

Started once per test session (tests/identity/conftest.py). It skips with a reason when Node or the
package (npm ci) is missing, except when SDM_REQUIRE_NODE=1 or SDM_REQUIRE_BROWSER=1 (as in
.ci/run), where that fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PACKAGE = ROOT / "node_modules" / "oidc-provider" / "package.json"
REQUIRED = os.environ.get("SDM_REQUIRE_NODE") == "1" or os.environ.get("SDM_REQUIRE_BROWSER") == "1"
APP_URL = "http://testserver.local"  # the in-process app of the `client` fixture
CALLBACK = "/clinician/oidc/callback"
CLIENT_ID = "sdm-service-tests"
CLIENT_SECRET = "test-only-client-secret-0123456789abcdef"


@dataclass(frozen=True)
class IdentityProvider:
    issuer: str
    live_port: int  # the port the browser test's `sdm run` must use (its redirect URI is registered)

    def settings(self) -> dict[str, object]:
        return {
            "oidc_issuer": self.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
            "oidc_role_claim": "roles",
            "oidc_clinician_values": "sdm-clinician",
            "oidc_admin_values": "sdm-admin",
        }

    def set_roles(self, login: str, *roles: str) -> None:
        answer = httpx.post(
            f"{self.issuer}/test/set-roles", params={"login": login, "roles": ",".join(roles)}
        )
        assert answer.status_code == 204, answer.text


def unavailable_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not PACKAGE.exists():
        return f"{PACKAGE.parent.relative_to(ROOT)} is missing (run npm ci)"
    return None


@pytest.fixture(scope="session")
def identity_provider() -> Iterator[IdentityProvider]:
    reason = unavailable_reason()
    if reason:
        if REQUIRED:
            pytest.fail(f"The OpenID provider is required here but {reason}")
        pytest.skip(reason)
    port, live_port = free_port(), free_port()
    redirects = f"{APP_URL}{CALLBACK},http://127.0.0.1:{live_port}{CALLBACK}"
    process = subprocess.Popen(
        ["node", str(SCRIPT), str(port), CLIENT_ID, CLIENT_SECRET, redirects],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        # The script prints "ready <issuer>" once it listens (it exits if it cannot start).
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the test OpenID provider did not start (exit code {process.poll()})")
        yield IdentityProvider(issuer=line.split()[1], live_port=live_port)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def through_provider(client: Any, login: str, *, next_path: str = "") -> str:
    """Start a sign-in at the app, sign `login` in at the provider (its own cookie jar, as a browser
    has one per site) and return the app's callback path with the provider's code and state."""
    params = {"login_hint": login, **({"next": next_path} if next_path else {})}
    start = await client.get("/clinician/sign-in/oidc", params=params, follow_redirects=False)
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    async with httpx.AsyncClient() as browser:
        while not location.startswith(APP_URL):
            answer = await browser.get(location)
            assert answer.status_code in (302, 303), answer.text
            location = urljoin(location, answer.headers["location"])
    return location.removeprefix(APP_URL)


async def sign_in_with_provider(client: Any, login: str, *, next_path: str = "") -> httpx.Response:
    """The whole sign-in; returns the app's answer to the callback."""
    callback = await through_provider(client, login, next_path=next_path)
    response: httpx.Response = await client.get(callback, follow_redirects=False)
    return response
