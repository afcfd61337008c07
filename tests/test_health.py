from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from tests.conftest import make_settings


async def test_health_reports_database_ok(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_health_is_503_with_clear_body_when_database_is_unreachable() -> None:
    # Nothing listens on port 1, so every connection attempt is refused.
    settings = make_settings("postgresql://postgres@127.0.0.1:1/none")
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unreachable"


async def test_unknown_page_is_a_friendly_html_404(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text
    assert "Traceback" not in response.text


async def test_clinician_error_pages_lead_back_to_the_worklist(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/clinician/no-such-page")
    assert response.status_code == 404
    assert 'href="/clinician"' in response.text
    assert 'href="/q/iort-sdm"' not in response.text
