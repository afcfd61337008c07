"""The service refuses what its OpenAPI schema forbids (issue 15 item 9): a date-time written as a
number, a consult date that is not a date string."""

from __future__ import annotations

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
