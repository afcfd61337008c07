"""Dates at the edge of the calendar are a 400, not an OverflowError."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.models import Role
from sdm_service.services import audit_query
from sdm_service.services.search import SearchError, as_utc, decode_cursor
from tests.security.support import api_token

Client = AsyncTestClient[Litestar]
PASSWORD = "a-long-enough-password-42"


LATEST_CURSOR = "9" * 17 + "." + "f" * 32  # the last position a cursor can name: year 5138
TOO_LATE_CURSOR = "9" * 18 + "." + "f" * 32  # beyond the calendar if it were read


def test_every_cursor_of_the_documented_form_names_a_time_in_the_calendar() -> None:
    assert decode_cursor(LATEST_CURSOR).updated_at.year == 5138
    assert decode_cursor("0." + "0" * 32).updated_at == datetime(1970, 1, 1, tzinfo=UTC)
    with pytest.raises(SearchError, match="cursor"):
        decode_cursor(TOO_LATE_CURSOR)


def test_times_whose_utc_leaves_the_calendar_are_a_search_error() -> None:
    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(SearchError, match="out of range"):
        as_utc(late)
    assert as_utc(datetime(9999, 12, 31, 12, 0)) == datetime(9999, 12, 31, 12, 0, tzinfo=UTC)


async def test_api_and_fhir_answer_the_latest_cursor_and_refuse_one_beyond(
    client: Client, app: Litestar
) -> None:
    headers = await api_token(app)
    for cursor, status in ((LATEST_CURSOR, 200), (TOO_LATE_CURSOR, 400)):
        listed = await client.get("/api/v1/responses", params={"cursor": cursor}, headers=headers)
        assert listed.status_code == status, listed.text
        searched = await client.get(
            "/fhir/QuestionnaireResponse", params={"_cursor": cursor}, headers=headers
        )
        assert searched.status_code == status, searched.text


def test_an_audit_to_date_of_9999_12_31_is_a_filter_error() -> None:
    with pytest.raises(audit_query.AuditFilterError, match="'to' date"):
        audit_query.AuditFilters(date_to=date.max)
    assert audit_query.AuditFilters(date_to=date.max - timedelta(days=1)).date_to == date(9999, 12, 30)


async def test_the_audit_page_explains_a_to_date_of_9999_12_31(client: Client, app: Litestar) -> None:
    from tests.web.clinician_support import signed_in

    await signed_in(client, app, "admin.audit", role=Role.ADMIN)
    response = await client.get("/clinician/admin/audit", params={"to": "9999-12-31"})
    assert response.status_code == 400, response.text
    assert "9999-12-30 or earlier" in response.text
    fine = await client.get("/clinician/admin/audit", params={"from": "9999-12-31", "to": "9999-12-30"})
    assert fine.status_code == 400  # from after to: the ordinary message, not a crash
    assert (await client.get("/clinician/admin/audit", params={"to": "9999-12-30"})).status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/fhir/QuestionnaireResponse", {"_lastUpdated": "9999-12-31"}),
        ("/fhir/QuestionnaireResponse", {"_lastUpdated": "ge9999-12-31T23:59:59-01:00"}),
        ("/api/v1/responses", {"updated_since": "0001-01-01T00:00:00+14:00"}),
    ],
)
async def test_search_dates_beyond_the_calendar_are_400(
    client: Client, app: Litestar, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=await api_token(app))
    assert response.status_code == 400, response.text
