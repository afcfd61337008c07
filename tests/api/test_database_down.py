"""When the database cannot be reached, integration clients get a clear 503 in their own format."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from tests.api.conftest import validate_fhir
from tests.conftest import make_settings
from tests.reliability.live import free_port


async def test_an_unreachable_database_is_503_for_api_and_fhir() -> None:
    # Nothing listens on this port: every connection attempt is refused at once.
    settings = make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        headers = {"Authorization": "Bearer some-token"}
        fhir = await client.get("/fhir/QuestionnaireResponse", headers=headers)
        assert fhir.status_code == 503
        outcome = fhir.json()
        validate_fhir(outcome)
        assert outcome["issue"][0]["code"] == "transient"
        assert "database" in outcome["issue"][0]["diagnostics"]

        api = await client.get("/api/v1/responses", headers=headers)
        assert api.status_code == 503
        assert "database" in api.json()["detail"]
