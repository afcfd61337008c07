"""FHIR request parsing is pure: query items and headers in, a search or a FhirError out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from sdm_service.api.fhir import params
from sdm_service.api.fhir.errors import FhirError


def test_date_values_cover_the_range_their_precision_says() -> None:
    assert params.date_range("ge2026-11") == (
        "ge",
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert params.date_range("2026-12")[2] == datetime(2027, 1, 1, tzinfo=UTC)
    # An unencoded "+" arrives as a space; it is read as the offset the client meant.
    prefix, start, end = params.date_range("lt2026-11-22T10:00 02:00")
    assert (prefix, start) == ("lt", datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    assert (end - start).total_seconds() == 60
    assert params.updated_bounds(["2026-11-22"]) == (
        ("ge", datetime(2026, 11, 22, tzinfo=UTC)),
        ("lt", datetime(2026, 11, 23, tzinfo=UTC)),
    )


@pytest.mark.parametrize("bad", ["yesterday", "sa2026-11-01", "2026-02-30", "ge9999-12-31T23:00:00-02:00"])
def test_bad_dates_are_400s_naming_the_parameter(bad: str) -> None:
    with pytest.raises(FhirError) as caught:
        params.updated_bounds([bad])
    assert caught.value.status_code == 400
    assert "_lastUpdated" in caught.value.detail or "prefix" in caught.value.detail


def test_unknown_and_repeated_parameters_are_refused() -> None:
    allowed = params.search_parameters("QuestionnaireResponse")
    params.check_parameters(
        [("status", "completed"), ("_lastUpdated", "ge2026"), ("_lastUpdated", "lt2027")], allowed
    )
    with pytest.raises(FhirError, match="subject:identifier=system"):
        params.check_parameters([("subject", "Patient/1")], allowed)
    with pytest.raises(FhirError, match="Supported here"):
        params.check_parameters([("name", "x")], allowed)
    with pytest.raises(FhirError, match="once"):
        params.check_parameters([("status", "completed"), ("status", "in-progress")], allowed)
    assert "status" not in params.search_parameters("DocumentReference")


def test_a_search_becomes_a_response_filter() -> None:
    wanted = uuid.uuid4()
    search = params.SearchRequest("urn:x|42", "completed", ["ge2026-11-01"], f"{wanted},not-an-id", 5, None)
    parsed = params.parse_search(search, "DocumentReference")
    assert (parsed.where.patient_system, parsed.where.patient_value) == ("urn:x", "42")
    assert parsed.where.ids == (wanted,)
    assert parsed.where.with_summary
    assert parsed.count == 5
    assert parsed.where.statuses is not None
    assert "completed" in parsed.where.statuses
    with pytest.raises(FhirError, match="_count"):
        params.parse_search(params.SearchRequest(None, None, None, None, 101, None), "QuestionnaireResponse")
    with pytest.raises(FhirError, match="cursor"):
        params.parse_search(params.SearchRequest(None, None, None, None, None, "!!"), "QuestionnaireResponse")


def test_formats_and_pdf_negotiation() -> None:
    params.check_format("json", "application/fhir+json")
    params.check_format(None, "application/pdf")
    with pytest.raises(FhirError) as caught:
        params.check_format("xml", "")
    assert caught.value.status_code == 406
    assert params.wants_pdf("application/pdf", None)
    assert not params.wants_pdf("application/fhir+json, application/pdf;q=0.5", None)
    assert not params.wants_pdf("application/pdf", "json")
