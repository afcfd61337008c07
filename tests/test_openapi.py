"""The OpenAPI document is the integration contract: served locally, complete, no third-party assets."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_schema_is_served_as_json_and_yaml_without_external_assets(
    client: AsyncTestClient[Litestar],
) -> None:
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    for path in ("/api/v1/invitations", "/api/v1/responses", "/fhir/QuestionnaireResponse", "/health"):
        assert path in paths, path
    assert "BearerToken" in document.json()["components"]["securitySchemes"]
    yaml_document = await client.get("/schema/openapi.yaml")
    assert yaml_document.status_code == 200
    assert "openapi:" in yaml_document.text
    for served in (document.text, yaml_document.text):
        assert "unpkg.com" not in served
        assert "cdn." not in served
