"""The pure parts of write-back: retry policy, backoff, outbound resources, our keys and JWKS."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from sdm_service.delivery.keys import KeyFileError, load_signing_keys
from sdm_service.delivery.policy import backoff_seconds, classify_http, parse_retry_after
from sdm_service.delivery.resources import identifier, if_none_exist, outbound_document
from sdm_service.settings import SettingsError
from tests.conftest import make_settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ISSUE = {"severity": "error", "code": "invalid", "details": {"text": "subject is required"}}
OUTCOME = {"resourceType": "OperationOutcome", "issue": [ISSUE]}


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_timeouts_throttling_and_server_errors_are_retried(status: int) -> None:
    result = classify_http(status, None, "7", NOW, "DocumentReference")
    assert result is not None
    assert result.verdict == "retry"
    assert result.retry_after == 7.0


@pytest.mark.parametrize("status", [400, 403, 404, 409, 412, 422])
def test_other_client_errors_fail_at_once_with_the_outcome(status: int) -> None:
    result = classify_http(status, OUTCOME, None, NOW, "DocumentReference")
    assert result is not None
    assert result.verdict == "failed"
    assert result.outcome == OUTCOME
    assert "subject is required" in result.reason


def test_success_is_not_a_problem() -> None:
    assert classify_http(201, {}, None, NOW, "DocumentReference") is None
    assert classify_http(200, {}, None, NOW, "DocumentReference") is None


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Mon, 07 Dec 2026 12:00:30 GMT", NOW) == 30.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(3)
    for attempts in range(1, 12):
        ceiling = min(100.0, 2.0 * 2 ** (attempts - 1))
        delay = backoff_seconds(attempts, 2.0, 100.0, None, rng)
        assert ceiling / 2 <= delay <= ceiling
    # spread: deliveries failing together do not come back together
    assert len({round(backoff_seconds(5, 2.0, 100.0, None, rng), 6) for _ in range(20)}) > 1


def test_backoff_honours_retry_after_as_a_minimum() -> None:
    assert backoff_seconds(1, 2.0, 100.0, 60.0, random.Random(1)) == 60.0
    assert backoff_seconds(1, 2.0, 100.0, 10_000.0, random.Random(1)) == 100.0  # never past the cap


def test_the_outbound_document_carries_our_identifier_and_the_pdf_inline() -> None:
    local = {
        "resourceType": "DocumentReference",
        "id": "r1",
        "meta": {"lastUpdated": "x"},
        "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf", "url": "http://us/fhir/Binary/r1"}}],
        "context": {"related": [{"reference": "QuestionnaireResponse/r1"}]},
    }
    ident = identifier("http://us/fhir", "DocumentReference", "r1")
    out = outbound_document(local, ident, pdf=b"%PDF", binary_reference=None, response_reference=None)
    assert out["identifier"] == [{"system": "http://us/fhir/DocumentReference", "value": "r1"}]
    assert "id" not in out
    assert "context" not in out  # our local QuestionnaireResponse means nothing in the EHR
    assert out["content"][0]["attachment"] == {"contentType": "application/pdf", "data": "JVBERg=="}
    assert if_none_exist(ident) == "identifier=http%3A%2F%2Fus%2Ffhir%2FDocumentReference%7Cr1"


def test_the_jwks_publishes_every_key_public_half_only(
    ehr_key_files: list[Path], sqlite_url: str, tmp_path: Path
) -> None:
    keys = load_signing_keys(ehr_key_files)
    assert [key.algorithm for key in keys] == ["RS384", "ES384"]
    published = [key.public_jwk() for key in keys]
    assert all("d" not in jwk for jwk in published)
    assert len({jwk["kid"] for jwk in published}) == 2


async def test_the_jwks_endpoint(ehr_key_files: list[Path], sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, ehr_private_key_file=",".join(map(str, ehr_key_files)))
    async with AsyncTestClient(app=create_app(settings), base_url="http://testserver.local") as client:
        answer = await client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    body = answer.json()
    assert [key["alg"] for key in body["keys"]] == ["RS384", "ES384"]
    assert all("d" not in key and "p" not in key for key in body["keys"])


def test_a_key_file_that_is_not_a_private_key_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "public.json"
    bad.write_text(json.dumps({"kty": "oct", "k": "c2VjcmV0"}))
    with pytest.raises(KeyFileError, match=r"public\.json"):
        load_signing_keys([bad])


def test_an_ehr_needs_a_client_id_and_a_key(sqlite_url: str) -> None:
    with pytest.raises(SettingsError, match="SDM_EHR_CLIENT_ID"):
        make_settings(sqlite_url, ehr_fhir_base_url="https://ehr.example/fhir")
    with pytest.raises(SettingsError, match="SDM_EHR_PRIVATE_KEY_FILE"):
        make_settings(sqlite_url, ehr_fhir_base_url="https://ehr.example/fhir", ehr_client_id="sdm")
    with pytest.raises(SettingsError, match="not a readable file"):
        make_settings(sqlite_url, ehr_private_key_file="/nonexistent/key.pem")
