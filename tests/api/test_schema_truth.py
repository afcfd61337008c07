"""The service refuses what its OpenAPI schema forbids (issue 15 item 9): a date-time written as a
number, a consult date that is not a date string."""

from __future__ import annotations

import json
import re

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize("value", ["-1.75e-218", "0", "1700000000"])
async def test_updated_since_written_as_a_number_is_refused(
    client: Client, headers: dict[str, str], value: str
) -> None:
    answer = await client.get("/api/v1/responses", params={"updated_since": value}, headers=headers)
    assert answer.status_code == 400, answer.text
    assert "ISO 8601" in answer.json()["detail"]


async def test_updated_since_as_a_date_time_is_accepted(client: Client, headers: dict[str, str]) -> None:
    answer = await client.get(
        "/api/v1/responses", params={"updated_since": "2026-11-01T00:00:00Z"}, headers=headers
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("value", [0, 20261203, True, ["2026-12-03"]])
async def test_a_consult_date_that_is_not_a_date_string_is_refused(
    client: Client, headers: dict[str, str], value: object
) -> None:
    body = {"patient": {"value": "MRN-7"}, "consult_date": value}
    answer = await client.post("/api/v1/invitations", json=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert "consult_date" in answer.text


async def test_a_consult_date_string_is_accepted(client: Client, headers: dict[str, str]) -> None:
    body = {"patient": {"value": "MRN-7"}, "consult_date": "2026-12-03"}
    answer = await client.post("/api/v1/invitations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


async def test_options_lists_every_method_of_a_path(client: Client, headers: dict[str, str]) -> None:
    for path, methods in (
        ("/fhir/QuestionnaireResponse", "GET, OPTIONS, POST"),
        ("/api/v1/invitations", "OPTIONS, POST"),
        ("/clinician/sign-in", "GET, OPTIONS, POST"),
    ):
        answer = await client.options(path, headers=headers)
        assert answer.status_code == 204, answer.text
        assert answer.headers["allow"] == methods, path


async def test_a_cursor_of_the_documented_form_is_a_page_not_an_error(
    client: Client, headers: dict[str, str]
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    [cursor] = [p for p in schema["paths"]["/api/v1/responses"]["get"]["parameters"] if p["name"] == "cursor"]
    pattern = cursor["schema"]["pattern"]
    value = "1795286703000000." + "0" * 32
    assert re.search(pattern, value)
    listed = await client.get("/api/v1/responses", params={"cursor": value}, headers=headers)
    assert listed.status_code == 200, listed.text
    searched = await client.get("/fhir/QuestionnaireResponse", params={"_cursor": value}, headers=headers)
    assert searched.status_code == 200, searched.text


async def test_the_schema_says_unknown_keys_are_refused(client: Client, headers: dict[str, str]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["components"]["schemas"]["InvitationCreate"]["additionalProperties"] is False
    assert schema["components"]["schemas"]["PatientIdentifier"]["additionalProperties"] is False
    body = {"patient": {"value": "MRN-7", "colour": "blue"}}
    answer = await client.post("/api/v1/invitations", json=body, headers=headers)
    assert answer.status_code == 400, answer.text


async def test_the_create_example_is_accepted_as_documented(client: Client, headers: dict[str, str]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    example = schema["components"]["examples"]["QuestionnaireResponseCreate"]["value"]
    answer = await client.post(
        "/fhir/QuestionnaireResponse",
        content=json.dumps(example),
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == 201, answer.text
