"""With the database down, people get a calm 503 in the format of what they asked for (an HTML page,
problem JSON, an OperationOutcome), never a stack trace or a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from tests.conftest import make_settings
from tests.security import probes

# Nothing listens on port 1, so every connection attempt is refused at once.
DOWN_URL = "postgresql://postgres@127.0.0.1:1/none"


@pytest.fixture
async def down_client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = probes.add_probes(create_app(make_settings(DOWN_URL)))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


def assert_friendly_page(response: object) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 503
    assert "text/html" in response.headers["content-type"]
    assert "Temporarily unavailable" in response.text
    assert "Traceback" not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_starting_the_questionnaire_shows_a_friendly_503_page(
    down_client: AsyncTestClient[Litestar],
) -> None:
    await down_client.get(probes.PAGE)  # any page sets the CSRF cookie
    response = await down_client.post(
        "/q/iort-sdm/start", headers={"x-csrftoken": down_client.cookies["sdm_csrf"]}
    )
    assert_friendly_page(response)


@pytest.mark.parametrize("path", [probes.DB_PAGE, "/i/some-link", "/r/some-link", "/q/iort-sdm/step/1"])
async def test_pages_show_a_friendly_503(down_client: AsyncTestClient[Litestar], path: str) -> None:
    # A patient coming back with their browser cookie: the page must look up their answers.
    down_client.cookies.set("sdm_patient", "a-patient-session-token")
    assert_friendly_page(await down_client.get(path))


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (probes.API_DB, {}),
        ("/api/v1/responses", {"Authorization": "Bearer some-token"}),
    ],
)
async def test_the_json_api_answers_problem_json_503(
    down_client: AsyncTestClient[Litestar], path: str, headers: dict[str, str]
) -> None:
    response = await down_client.get(path, headers=headers)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status_code"] == 503
    assert "database" in body["detail"].lower()
    assert response.headers["cache-control"] == "no-store"


async def test_health_reports_the_database_as_unreachable(down_client: AsyncTestClient[Litestar]) -> None:
    response = await down_client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.parametrize("path", ["/fhir/metadata", "/fhir/QuestionnaireResponse?status=completed"])
async def test_fhir_answers_an_operation_outcome_503(
    down_client: AsyncTestClient[Litestar], path: str
) -> None:
    response = await down_client.get(path, headers={"Authorization": "Bearer some-token"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] in ("error", "fatal")
    assert response.headers["cache-control"] == "no-store"
