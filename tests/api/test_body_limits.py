"""The JSON API and FHIR take the JSON body limit from the settings (SDM_MAX_JSON_BODY_BYTES), as
every other route does: no router caps bodies at a size of its own."""

from __future__ import annotations

import json

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.settings import Settings
from tests.conftest import make_settings

Client = AsyncTestClient[Litestar]
LIMIT = 512 * 1024  # above the 64 KiB (v1) and 256 KiB (FHIR) the routers used to impose


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, max_json_body_bytes=LIMIT)


def fhir_body(size: int) -> bytes:
    """A QuestionnaireResponse-shaped body of `size` bytes that the resource validation refuses."""
    head, tail = b'{"resourceType": "QuestionnaireResponse", "padding": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def invitation_body(size: int) -> bytes:
    head, tail = b'{"patient": {"value": "A"}, "name": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_fhir_body_within_the_configured_limit_reaches_validation(
    client: Client, headers: dict[str, str]
) -> None:
    fhir_headers = {**headers, "Content-Type": "application/fhir+json"}
    within = await client.post(
        "/fhir/QuestionnaireResponse", content=fhir_body(300 * 1024), headers=fhir_headers
    )
    assert within.status_code == 400, within.text  # read and checked: the resource is not valid
    assert within.json()["resourceType"] == "OperationOutcome"
    assert "padding" in json.dumps(within.json())

    over = await client.post(
        "/fhir/QuestionnaireResponse", content=fhir_body(LIMIT + 1), headers=fhir_headers
    )
    assert over.status_code == 413
    assert over.json()["resourceType"] == "OperationOutcome"
    assert "512 KiB" in over.json()["issue"][0]["diagnostics"]


async def test_a_v1_body_within_the_configured_limit_reaches_validation(
    client: Client, headers: dict[str, str]
) -> None:
    json_headers = {**headers, "Content-Type": "application/json"}
    within = await client.post(
        "/api/v1/invitations", content=invitation_body(100 * 1024), headers=json_headers
    )
    assert within.status_code == 400, within.text  # read and checked: the name is far too long
    assert "name" in within.text

    over = await client.post("/api/v1/invitations", content=invitation_body(LIMIT + 1), headers=json_headers)
    assert over.status_code == 413
    assert "512 KiB" in over.json()["detail"]
