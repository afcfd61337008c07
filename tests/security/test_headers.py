"""Every response carries the security headers; patient-bearing responses are never cached;
requests for a host that is not ours are refused."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.middleware import CONTENT_SECURITY_POLICY, host_is_trusted
from sdm_service.settings import Settings
from tests.conftest import make_settings
from tests.security import probes

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, f"{name} on {response.request.url.path}"
    assert "camera=()" in response.headers["permissions-policy"]
    assert "strict-transport-security" not in response.headers  # only in production


def test_policy_forbids_inline_code_plugins_framing_and_foreign_bases() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", probes.PAGE, 200),
        ("GET", probes.API, 200),
        ("GET", probes.FHIR, 200),
        ("GET", "/health", 200),
        ("GET", "/static/app.css", 200),
        ("GET", "/no-such-page", 404),
        ("GET", "/api/v1/no-such-thing", 404),
        ("GET", "/fhir/no-such-thing", 404),
        ("GET", probes.INVITE + "/wrong", 404),
        ("POST", probes.API, 400),  # not JSON
        ("GET", "/schema/openapi.json", 200),
    ],
)
async def test_every_kind_of_response_carries_the_security_headers(
    probe_client: AsyncTestClient[Litestar], method: str, path: str, status: int
) -> None:
    response = await probe_client.request(method, path, content=b"{" if method == "POST" else None)
    assert response.status_code == status
    assert_security_headers(response)


@pytest.mark.parametrize(
    "path", [probes.PAGE, probes.API, probes.INVITE + "/good", "/no-such-page", "/api/v1/missing"]
)
async def test_pages_api_and_errors_are_never_cached(
    probe_client: AsyncTestClient[Litestar], path: str
) -> None:
    response = await probe_client.get(path)
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/static/app.css", "/health"])
async def test_static_files_and_health_may_be_cached(
    probe_client: AsyncTestClient[Litestar], path: str
) -> None:
    response = await probe_client.get(path)
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("cache-control", "")


def production_settings(sqlite_url: str, **overrides: object) -> Settings:
    return make_settings(sqlite_url, env="production", base_url="https://sdm.example.org", **overrides)


async def test_hsts_is_sent_in_production_only(sqlite_url: str) -> None:
    app = create_app(production_settings(sqlite_url))
    async with AsyncTestClient(app=app, base_url="https://sdm.example.org") as client:
        response = await client.get("/health")
        missing = await client.get("/nowhere")
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "includeSubDomains" in missing.headers["strict-transport-security"]


async def test_a_foreign_host_header_is_refused(probe_client: AsyncTestClient[Litestar]) -> None:
    page = await probe_client.get(probes.PAGE, headers={"Host": "evil.example"})
    api = await probe_client.get(probes.API, headers={"Host": "evil.example"})
    fhir = await probe_client.get(probes.FHIR, headers={"Host": "evil.example:8000"})
    assert page.status_code == 400
    assert "text/html" in page.headers["content-type"]
    assert api.status_code == 400
    assert "Host" in api.json()["detail"]
    assert fhir.status_code == 400
    assert_security_headers(page)


async def test_health_answers_probes_on_any_host(sqlite_url: str) -> None:
    """Container and load-balancer health checks call the internal address (Dockerfile HEALTHCHECK)."""
    app = create_app(production_settings(sqlite_url))
    async with AsyncTestClient(app=app, base_url="https://sdm.example.org") as client:
        probe = await client.get("/health", headers={"Host": "127.0.0.1:8000"})
    assert probe.status_code == 200


async def test_loopback_hosts_with_a_port_are_served_in_development(
    probe_client: AsyncTestClient[Litestar],
) -> None:
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "testserver.local"):
        response = await probe_client.get(probes.PAGE, headers={"Host": host})
        assert response.status_code == 200, host


async def test_production_serves_only_its_own_host_by_default(sqlite_url: str) -> None:
    app = create_app(production_settings(sqlite_url))
    async with AsyncTestClient(app=app, base_url="https://sdm.example.org") as client:
        own = await client.get("/static/app.css", headers={"Host": "sdm.example.org:443"})
        loopback = await client.get("/static/app.css", headers={"Host": "127.0.0.1:8000"})
    assert own.status_code == 200
    assert loopback.status_code == 400


async def test_allowed_hosts_come_from_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDM_ALLOWED_HOSTS", "sdm.clinic.org, *.internal.clinic.org")
    settings = make_settings(sqlite_url)
    assert settings.trusted_hosts == ["sdm.clinic.org", "*.internal.clinic.org"]
    async with AsyncTestClient(app=create_app(settings), base_url="http://sdm.clinic.org") as client:
        assert (await client.get("/static/app.css")).status_code == 200
        assert (
            await client.get("/static/app.css", headers={"Host": "a.internal.clinic.org"})
        ).status_code == 200
        assert (await client.get("/static/app.css", headers={"Host": "testserver.local"})).status_code == 400


@pytest.mark.parametrize(
    ("host", "trusted"),
    [
        ("sdm.clinic.org", True),
        ("SDM.Clinic.org:443", True),
        ("x.sdm.clinic.org", False),
        ("sdm.clinic.org.evil.example", False),
        ("evilsdm.clinic.org", False),
        ("", False),
    ],
)
def test_host_matching(host: str, trusted: bool) -> None:
    assert host_is_trusted(host, ["sdm.clinic.org", "*.internal.org"]) is trusted


@pytest.mark.parametrize("value", ['["sdm.clinic.org", "API.clinic.org"]', "sdm.clinic.org,api.clinic.org"])
def test_allowed_hosts_accept_a_list_or_comma_separated_names(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SDM_ALLOWED_HOSTS", value)
    assert make_settings(sqlite_url).trusted_hosts == ["sdm.clinic.org", "api.clinic.org"]
