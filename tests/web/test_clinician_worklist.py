"""The worklist: upcoming consults first, filters, search and pagination over a few hundred rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import pytest
from litestar import Litestar

from sdm_service.models import PatientResponse, ResponseStatus, utcnow
from sdm_service.services import worklist
from tests.web.clinician_support import Client, add_response, audit_events, db, response_links, signed_in

ROWS = 330


@dataclass(frozen=True)
class Seeded:
    id: uuid.UUID
    status: str
    consult_date: date | None
    created_at: datetime
    flagged: bool
    name: str
    identifier: str


def _expected_order(rows: list[Seeded], today: date) -> list[uuid.UUID]:
    upcoming = sorted(
        (r for r in rows if r.consult_date and r.consult_date >= today),
        key=lambda r: (r.consult_date, r.created_at),
    )
    undated = sorted((r for r in rows if r.consult_date is None), key=lambda r: r.created_at, reverse=True)
    past = sorted(
        (r for r in rows if r.consult_date and r.consult_date < today),
        key=lambda r: (r.consult_date, r.created_at),
        reverse=True,
    )
    return [r.id for r in (*upcoming, *undated, *past)]


async def _seed(app: Litestar, today: date) -> list[Seeded]:
    base = utcnow() - timedelta(days=30)
    rows = []
    for number in range(ROWS):
        consult = None if number % 7 == 0 else today + timedelta(days=(number * 37) % 121 - 60)
        rows.append(
            Seeded(
                id=uuid.uuid4(),
                status=ResponseStatus.ALL[number % 4],
                consult_date=consult,
                created_at=base + timedelta(minutes=number * 13 % ROWS, seconds=number),
                flagged=number % 5 == 0,
                name=f"Patient {number:03d} {'Okafor' if number % 11 == 0 else 'Smith'}",
                identifier=f"MRN-{number:05d}",
            )
        )
    async with db(app) as session:
        session.add_all(
            PatientResponse(
                id=r.id,
                questionnaire_slug="iort-sdm",
                questionnaire_version="1.0.0",
                status=r.status,
                patient_name=r.name,
                patient_value=r.identifier,
                consult_date=r.consult_date,
                conflict_flag=r.flagged,
                created_at=r.created_at,
                updated_at=r.created_at,
            )
            for r in rows
        )
        await session.commit()
    return rows


@pytest.fixture
async def seeded(app: Litestar) -> tuple[list[Seeded], date]:
    today = utcnow().date()
    return await _seed(app, today), today


async def _all_pages(app: Litestar, filters: worklist.WorklistFilters, today: date) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    async with db(app) as session:
        first = await worklist.worklist_page(session, filters, today=today)
        for number in range(1, first.pages + 1):
            page = await worklist.worklist_page(session, replace(filters, page=number), today=today)
            assert len(page.rows) == (25 if number < first.pages else first.total - 25 * (first.pages - 1))
            ids.extend(r.id for r in page.rows)
    assert len(ids) == first.total
    return ids


async def test_every_page_in_order_upcoming_then_undated_then_past(
    app: Litestar, seeded: tuple[list[Seeded], date]
) -> None:
    rows, today = seeded
    assert await _all_pages(app, worklist.WorklistFilters(), today) == _expected_order(rows, today)


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (worklist.WorklistFilters(statuses=("completed",)), lambda r: r.status == "completed"),
        (
            worklist.WorklistFilters(statuses=("completed", "reviewed")),
            lambda r: r.status in ("completed", "reviewed"),
        ),
        (worklist.WorklistFilters(flagged_only=True), lambda r: r.flagged),
        (worklist.WorklistFilters(query="okafor"), lambda r: "Okafor" in r.name),
        (worklist.WorklistFilters(query="MRN-0012"), lambda r: r.identifier.startswith("MRN-0012")),
        (worklist.WorklistFilters(query="mrn-00007"), lambda r: r.identifier == "MRN-00007"),
        (worklist.WorklistFilters(query="100%_"), lambda r: False),  # wildcards are plain characters
    ],
)
async def test_filters_and_search_keep_the_order(
    app: Litestar, seeded: tuple[list[Seeded], date], filters: worklist.WorklistFilters, keep: object
) -> None:
    rows, today = seeded
    expected = _expected_order([r for r in rows if keep(r)], today)  # type: ignore[operator]
    assert await _all_pages(app, filters, today) == expected


@pytest.mark.parametrize("query", ["smith", "MRN-001", "okafor"])
async def test_search_orders_the_same_whether_matches_are_few_or_many(
    app: Litestar, seeded: tuple[list[Seeded], date], monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    """Few matches are sorted from their keys, many are read along the index: same order either way."""
    _rows, today = seeded
    filters = worklist.WorklistFilters(query=query, statuses=("completed", "in_progress", "invited"))
    few = await _all_pages(app, filters, today)
    monkeypatch.setattr(worklist, "SORT_MATCHES_LIMIT", 0)
    many = await _all_pages(app, filters, today)
    assert few == many
    assert len(few) > 1


async def test_consult_date_range_excludes_undated(app: Litestar, seeded: tuple[list[Seeded], date]) -> None:
    rows, today = seeded
    start, end = today - timedelta(days=10), today + timedelta(days=20)
    filters = worklist.WorklistFilters(consult_from=start, consult_to=end, flagged_only=True)
    kept = [r for r in rows if r.consult_date and start <= r.consult_date <= end and r.flagged]
    assert kept
    assert await _all_pages(app, filters, today) == _expected_order(kept, today)


async def test_a_page_past_the_end_shows_the_last_page(
    app: Litestar, seeded: tuple[list[Seeded], date]
) -> None:
    rows, today = seeded
    async with db(app) as session:
        page = await worklist.worklist_page(session, worklist.WorklistFilters(page=999), today=today)
    assert page.page == page.pages == 14
    assert [r.id for r in page.rows] == _expected_order(rows, today)[13 * 25 :]


async def test_worklist_page_shows_rows_and_pages_and_is_audited(
    client: Client, app: Litestar, seeded: tuple[list[Seeded], date]
) -> None:
    rows, today = seeded
    expected = _expected_order(rows, today)
    await signed_in(client, app, "worker")

    first = await client.get("/clinician")
    assert first.status_code == 200
    assert response_links(first.text) == [str(i) for i in expected[:25]]
    assert f"Showing 1 to 25 of {ROWS} responses." in first.text
    assert "Page 1 of 14" in first.text
    assert '<th scope="col">Consult date</th>' in first.text

    second = await client.get("/clinician", params={"page": "2"})
    assert response_links(second.text) == [str(i) for i in expected[25:50]]

    filtered = await client.get(
        "/clinician", params=[("status", "completed"), ("flagged", "1"), ("q", "smith"), ("page", "1")]
    )
    kept = [r for r in rows if r.status == "completed" and r.flagged and "Smith" in r.name]
    assert response_links(filtered.text) == [str(i) for i in _expected_order(kept, today)[:25]]
    # Pager links keep the filters.
    if len(kept) > 25:
        assert "status=completed&amp;flagged=1&amp;q=smith&amp;page=2" in filtered.text

    views = await audit_events(app, "worklist.view")
    assert len(views) == 3
    assert views[-1].detail["statuses"] == ["completed"]
    assert views[-1].actor_label == "worker"


@pytest.mark.parametrize("limit", [100, 60, 25])
async def test_counting_stops_at_the_limit_and_pages_the_first_matches(
    app: Litestar, seeded: tuple[list[Seeded], date], monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Past COUNT_LIMIT matches the pager says "more than" and pages the first ones, in order."""
    rows, today = seeded
    monkeypatch.setattr(worklist, "COUNT_LIMIT", limit)
    async with db(app) as session:
        first = await worklist.worklist_page(session, worklist.WorklistFilters(), today=today)
        last = await worklist.worklist_page(session, worklist.WorklistFilters(page=999), today=today)
    assert (first.total, first.more) == (limit, True)
    assert last.page == last.pages == -(-limit // 25)
    assert [r.id for r in last.rows] == _expected_order(rows, today)[(last.pages - 1) * 25 : limit]
    assert await _all_pages(app, worklist.WorklistFilters(), today) == _expected_order(rows, today)[:limit]
    exact = await _all_pages(app, worklist.WorklistFilters(statuses=("completed",)), today)
    assert len(exact) == min(limit, sum(r.status == "completed" for r in rows))


async def test_a_count_at_the_limit_is_exact(
    app: Litestar, seeded: tuple[list[Seeded], date], monkeypatch: pytest.MonkeyPatch
) -> None:
    _rows, today = seeded
    monkeypatch.setattr(worklist, "COUNT_LIMIT", ROWS)
    async with db(app) as session:
        page = await worklist.worklist_page(session, worklist.WorklistFilters(), today=today)
    assert (page.total, page.more) == (ROWS, False)


async def test_the_page_says_when_there_are_more_than_it_counted(
    client: Client, app: Litestar, seeded: tuple[list[Seeded], date], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, _today = seeded
    monkeypatch.setattr(worklist, "COUNT_LIMIT", 100)
    await signed_in(client, app, "worker")
    first = await client.get("/clinician")
    assert "Showing 1 to 25 of more than 100 responses." in first.text
    assert "Page 1 of 4" in first.text
    completed = sum(r.status == "completed" for r in rows)
    assert completed < 100
    narrowed = await client.get("/clinician", params={"status": "completed"})
    assert f"Showing 1 to 25 of {completed} responses." in narrowed.text
    # The audit trail says when the total it records is only where counting stopped.
    views = await audit_events(app, "worklist.view")
    assert [(v.detail["total"], v.detail["more_than_total"]) for v in views] == [
        (100, True),
        (completed, False),
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-02-30"}, "enter a real date"),
        ({"from": "2026-12-10", "to": "2026-12-01"}, "on or before"),
        ({"status": "deleted"}, "Choose a status"),
        ({"page": "two"}, "whole number"),
        ({"q": "x" * 101}, "100 characters or fewer"),
    ],
)
async def test_bad_filters_get_a_clear_message(
    client: Client, app: Litestar, params: dict[str, str], message: str
) -> None:
    await signed_in(client, app, "filterer")
    response = await client.get("/clinician", params=params)
    assert response.status_code == 400
    assert message in response.text


async def test_worklist_row_shows_status_priority_flag_and_dates(client: Client, app: Litestar) -> None:
    consult = utcnow().date() + timedelta(days=3)
    await add_response(app, patient_name="Ana Flores", consult_date=consult)
    await add_response(app, status=ResponseStatus.INVITED, patient_name="", patient_value="MRN-77")
    await signed_in(client, app, "reader")
    html = (await client.get("/clinician")).text
    assert "Ana Flores" in html
    assert consult.isoformat() in html
    assert "Completed" in html
    assert "Fewer treatment visits" in html  # the top priority, by its label
    assert "Flagged (score 3 of 4)" in html
    assert "MRN-77" in html  # identifier stands in when there is no name
    assert "Invited" in html
    assert (await client.get("/clinician/")).status_code == 200  # with a trailing slash too


async def test_sqlite_walks_the_consult_index_without_sorting(sqlite_url: str) -> None:
    """The unfiltered worklist reads the index in order; no temporary sort of every row."""
    from sqlalchemy.ext.asyncio import AsyncEngine

    from sdm_service.db import create_engine
    from tests.conftest import make_settings

    engine: AsyncEngine = create_engine(make_settings(sqlite_url))
    try:
        async with engine.connect() as connection:
            for statement in worklist.segment_statements(worklist.WorklistFilters(), date(2026, 12, 1)):
                compiled = statement.limit(25).compile(dialect=engine.dialect)
                params = tuple(compiled.params[name] for name in compiled.positiontup or ())
                plan = (await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)).fetchall()
                details = " | ".join(str(row[-1]) for row in plan)
                assert "ix_responses_consult" in details, details
                assert "TEMP B-TREE" not in details, details
    finally:
        await engine.dispose()
