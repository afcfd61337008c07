"""Bodies nested far deeper than any request needs get a clear 400, never a server error, and
leave no log line per level (issue 15 item 7)."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


def nested_json(levels: int) -> bytes:
    return b'{"patient": ' * levels + b"1" + b"}" * levels


def nested_items(levels: int) -> str:
    item = '{"linkId": "respondent", "answer": [{"valueCoding": {"code": "patient"}}]}'
    for _ in range(levels):
        item = '{"linkId": "respondent", "item": [' + item + "]}"
    return (
        '{"resourceType": "QuestionnaireResponse", "status": "completed", '
        '"subject": {"identifier": {"value": "MRN-1"}}, "item": [' + item + "]}"
    )


async def test_a_json_body_nested_a_thousand_levels_is_refused_with_400(
    client: Client, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        answer = await client.post(
            "/api/v1/invitations",
            content=nested_json(1000),
            headers={**headers, "Content-Type": "application/json"},
        )
    assert answer.status_code == 400, answer.text
    assert "nested too deeply" in answer.json()["detail"]
    assert "Traceback" not in caplog.text
    assert len(caplog.records) < 10, [r.getMessage()[:100] for r in caplog.records]


@pytest.mark.parametrize("levels", [300, 40])
async def test_a_questionnaire_response_with_items_nested_deep_is_refused_with_an_outcome(
    client: Client, headers: dict[str, str], caplog: pytest.LogCaptureFixture, levels: int
) -> None:
    with caplog.at_level(logging.INFO):
        answer = await client.post(
            "/fhir/QuestionnaireResponse",
            content=nested_items(levels),
            headers={**headers, "Content-Type": "application/fhir+json"},
        )
    assert answer.status_code == 400, answer.text[:500]
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "nested too deeply" in outcome["issue"][0]["diagnostics"]
    assert "Traceback" not in caplog.text
    assert len(caplog.records) < 10, [r.getMessage()[:100] for r in caplog.records]
